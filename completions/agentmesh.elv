
use builtin;
use str;

set edit:completion:arg-completer[agentmesh] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'agentmesh'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'agentmesh'= {
            cand --node 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)'
            cand --key 'Name of the key (identity) to use'
            cand --keystore 'Where keys are kept: keyring, file, or auto (keyring, else file)'
            cand --ca-cert 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)'
            cand --client-cert 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS'
            cand --home 'One folder for config, keys and data (tests and several local nodes use it)'
            cand --json 'Machine-readable JSON output on stdout'
            cand -v 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand --verbose 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand -q 'Less output on stderr'
            cand --quiet 'Less output on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand keygen 'Create a named Ed25519 identity and print its did:key'
            cand register 'Sign an agent card and publish it to a node'
            cand discover 'Find agents by what they do, in plain words'
            cand show 'Show an agent''s card, readable (default: my own)'
            cand keys 'My identities: name, ID, store, and whether each has a live card on the node'
            cand status 'Is the node up, which key am I, is my card live, is my tunnel open'
            cand invoke 'Call an agent with a signed request (through the node''s gateway, or --direct)'
            cand connect 'Hold a relay tunnel for an agent behind NAT and forward its calls to a local service'
            cand serve 'Run a node: registry, discovery, gateway, relay and trust'
            cand trust 'This node''s trust in agents: show, list, and admin reports'
            cand top 'A live view of a node: agents, trust, peers, tunnels, events'
            cand sim 'Run a federation of in-process nodes with faults and measure convergence'
            cand completions 'Print shell completions'
            cand man 'Write man pages'
            cand openapi 'Print the node API''s OpenAPI 3.1 document (what `GET /v1/openapi.json` serves)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'agentmesh;keygen'= {
            cand --name 'Name of the identity (default: --key, or `default`)'
            cand --node 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)'
            cand --key 'Name of the key (identity) to use'
            cand --keystore 'Where keys are kept: keyring, file, or auto (keyring, else file)'
            cand --ca-cert 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)'
            cand --client-cert 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS'
            cand --home 'One folder for config, keys and data (tests and several local nodes use it)'
            cand --force 'Replace an existing key of that name (its identity is lost)'
            cand --show 'Print an existing key''s did:key instead of creating one'
            cand --json 'Machine-readable JSON output on stdout'
            cand -v 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand --verbose 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand -q 'Less output on stderr'
            cand --quiet 'Less output on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentmesh;register'= {
            cand --file 'Card file (TOML, or JSON when it ends in .json) with the manifest''s fields'
            cand --from-a2a 'Import an A2A Agent Card (a URL — a base URL reads /.well-known/agent-card.json — or a file): name, description, skills, interface; the rest kept under meta.a2a. Flags override'
            cand --name 'Human-readable name (1–64 chars)'
            cand --description 'What the agent does'
            cand --skill 'A skill ID (repeatable); richer skills go in --file'
            cand --tag 'A tag (repeatable)'
            cand --protocol 'A protocol: http, mcp, a2a, ws, … (repeatable)'
            cand --endpoint 'Where the agent is reached: http(s)://, ws(s):// or relay://<agent_id>'
            cand --relay 'A relay node''s base URL (repeatable)'
            cand --vector-desc 'Text embedded for discovery instead of the description'
            cand --qps-budget 'Most requests per second the agent accepts'
            cand --concurrency-limit 'Most requests in flight the agent accepts'
            cand --ttl 'Card lifetime (e.g. 30d, 12h); sets expires_at'
            cand --meta 'A meta entry KEY=VALUE (repeatable)'
            cand --unset 'Clear a field of the current card (repeatable)'
            cand --timeout 'HTTP timeout'
            cand --node 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)'
            cand --key 'Name of the key (identity) to use'
            cand --keystore 'Where keys are kept: keyring, file, or auto (keyring, else file)'
            cand --ca-cert 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)'
            cand --client-cert 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS'
            cand --home 'One folder for config, keys and data (tests and several local nodes use it)'
            cand --replace 'Publish a whole new card from the flags and --file alone instead of editing the current one'
            cand --revoke 'Publish a signed tombstone: the agent''s card is revoked everywhere'
            cand --dry-run 'Print the signed envelope instead of publishing it'
            cand --json 'Machine-readable JSON output on stdout'
            cand -v 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand --verbose 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand -q 'Less output on stderr'
            cand --quiet 'Less output on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentmesh;discover'= {
            cand --tag 'Only agents with this tag (repeatable; all must match)'
            cand --protocol 'Only agents speaking this protocol (http, mcp, a2a, ws, …)'
            cand --min-trust 'Only agents whose local trust score is at least this (0–1)'
            cand --limit 'Most results (1–100)'
            cand --timeout 'HTTP timeout'
            cand --node 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)'
            cand --key 'Name of the key (identity) to use'
            cand --keystore 'Where keys are kept: keyring, file, or auto (keyring, else file)'
            cand --ca-cert 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)'
            cand --client-cert 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS'
            cand --home 'One folder for config, keys and data (tests and several local nodes use it)'
            cand --json 'Machine-readable JSON output on stdout'
            cand -v 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand --verbose 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand -q 'Less output on stderr'
            cand --quiet 'Less output on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentmesh;show'= {
            cand --timeout 'HTTP timeout'
            cand --node 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)'
            cand --key 'Name of the key (identity) to use'
            cand --keystore 'Where keys are kept: keyring, file, or auto (keyring, else file)'
            cand --ca-cert 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)'
            cand --client-cert 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS'
            cand --home 'One folder for config, keys and data (tests and several local nodes use it)'
            cand --json 'Machine-readable JSON output on stdout'
            cand -v 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand --verbose 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand -q 'Less output on stderr'
            cand --quiet 'Less output on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentmesh;keys'= {
            cand --node 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)'
            cand --key 'Name of the key (identity) to use'
            cand --keystore 'Where keys are kept: keyring, file, or auto (keyring, else file)'
            cand --ca-cert 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)'
            cand --client-cert 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS'
            cand --home 'One folder for config, keys and data (tests and several local nodes use it)'
            cand --json 'Machine-readable JSON output on stdout'
            cand -v 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand --verbose 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand -q 'Less output on stderr'
            cand --quiet 'Less output on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentmesh;status'= {
            cand --node 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)'
            cand --key 'Name of the key (identity) to use'
            cand --keystore 'Where keys are kept: keyring, file, or auto (keyring, else file)'
            cand --ca-cert 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)'
            cand --client-cert 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS'
            cand --home 'One folder for config, keys and data (tests and several local nodes use it)'
            cand --json 'Machine-readable JSON output on stdout'
            cand -v 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand --verbose 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand -q 'Less output on stderr'
            cand --quiet 'Less output on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentmesh;invoke'= {
            cand -d 'Request body: inline text, @FILE, or - for stdin'
            cand --data 'Request body: inline text, @FILE, or - for stdin'
            cand --path 'Path (and query) on the agent, e.g. /forecast?days=2'
            cand -X 'HTTP method (default: POST with --data, GET without)'
            cand --method 'HTTP method (default: POST with --data, GET without)'
            cand -H 'Extra header "Name: value" (repeatable)'
            cand --header 'Extra header "Name: value" (repeatable)'
            cand --timeout 'How long to wait for the answer'
            cand --mcp 'Speak MCP (Streamable HTTP): tools/list, tools/call, or any other method'
            cand --tool 'The tool for `--mcp tools/call`'
            cand --args 'JSON arguments of the tool (`--mcp tools/call`) or params of another MCP method'
            cand --a2a 'Speak A2A: send TEXT as a user message and print the reply and task state'
            cand --a2a-version 'A2A methods to use: 1.0 (SendMessage), 0.3 (message/send), or auto (1.0, then 0.3)'
            cand --node 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)'
            cand --key 'Name of the key (identity) to use'
            cand --keystore 'Where keys are kept: keyring, file, or auto (keyring, else file)'
            cand --ca-cert 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)'
            cand --client-cert 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS'
            cand --home 'One folder for config, keys and data (tests and several local nodes use it)'
            cand --direct 'Call the agent''s endpoint directly instead of through the node''s gateway'
            cand --json 'Machine-readable JSON output on stdout'
            cand -v 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand --verbose 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand -q 'Less output on stderr'
            cand --quiet 'Less output on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentmesh;connect'= {
            cand --relay 'The relay node''s URL (default: --node)'
            cand --forward 'The local service calls are forwarded to, e.g. http://127.0.0.1:8080'
            cand --card 'Card file (TOML or JSON, as for `register --file`) for --register'
            cand --name 'Card name for --register'
            cand --forward-timeout 'Longest wait for the local service'
            cand --max-body 'Largest body either way (e.g. 1MiB)'
            cand --node 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)'
            cand --key 'Name of the key (identity) to use'
            cand --keystore 'Where keys are kept: keyring, file, or auto (keyring, else file)'
            cand --ca-cert 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)'
            cand --client-cert 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS'
            cand --home 'One folder for config, keys and data (tests and several local nodes use it)'
            cand --register 'Publish the card with endpoint relay://<id> and this relay in `relays` (fields from --card/--name, else from the card the relay already holds)'
            cand --json 'Machine-readable JSON output on stdout'
            cand -v 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand --verbose 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand -q 'Less output on stderr'
            cand --quiet 'Less output on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentmesh;serve'= {
            cand --listen 'Address to listen on: host:port, or a port on 127.0.0.1 (port 0 picks a free one)'
            cand --data-dir 'Folder for the database and node key'
            cand --public-url 'URL peers and clients reach this node at'
            cand --config 'Config file (TOML); default: config.toml in the home folder'
            cand --durability 'Commit durability: full (survives power loss) or normal (survives a crash)'
            cand --max-batch 'Most registrations folded into one transaction'
            cand --embedder-dir 'A model2vec folder (config.json, model.safetensors, tokenizer.json) to embed cards with instead of the built-in model; changing it re-embeds every card at start'
            cand --upstream-timeout 'Longest wait for an agent''s answer through the gateway (e.g. 30s, 500ms)'
            cand --max-body 'Largest request or response body through the gateway (e.g. 1MiB, 64KiB)'
            cand --clock-skew 'Accepted clock skew of signed requests (e.g. 60s)'
            cand --admin 'A did:key allowed to report trust events (repeatable; the node''s own key always is)'
            cand --trust-half-life 'Time for trust evidence to halve (e.g. 7d, 12h)'
            cand --trust-flush-interval 'How often changed trust records are written to the database (e.g. 5s)'
            cand --seed 'A seed node to bootstrap from (repeatable)'
            cand --sync-interval 'Interval of pull anti-entropy with every peer (e.g. 60s)'
            cand --fanout 'Peers each eager-push round goes to'
            cand --max-connections 'Open connections at most; at the cap the longest-idle one is closed to make room (also capped by the descriptor limit)'
            cand --header-timeout 'A request head must arrive within this, and idle connections close after it (e.g. 10s)'
            cand --body-timeout 'Longest gap while a request body arrives (e.g. 10s)'
            cand --write-timeout 'Longest a write to a client may make no progress (e.g. 30s)'
            cand --max-header-bytes 'Largest request head: request line and headers (e.g. 16KiB)'
            cand --max-sync-page 'Largest sync page read from a peer (e.g. 4MiB); bigger pages are asked in smaller parts'
            cand --max-db-size 'Largest size the database may grow to (e.g. 10GiB); past it writes answer 507'
            cand --tls-cert 'Serve HTTPS with this PEM certificate chain (needs --tls-key)'
            cand --tls-key 'The PEM private key of --tls-cert'
            cand --tls-client-ca 'Require clients to present a certificate signed by this PEM CA (mutual TLS)'
            cand --log-format 'Log format on stderr: pretty or json'
            cand --node 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)'
            cand --key 'Name of the key (identity) to use'
            cand --keystore 'Where keys are kept: keyring, file, or auto (keyring, else file)'
            cand --ca-cert 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)'
            cand --client-cert 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS'
            cand --home 'One folder for config, keys and data (tests and several local nodes use it)'
            cand --json 'Machine-readable JSON output on stdout'
            cand -v 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand --verbose 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand -q 'Less output on stderr'
            cand --quiet 'Less output on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentmesh;trust'= {
            cand --node 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)'
            cand --key 'Name of the key (identity) to use'
            cand --keystore 'Where keys are kept: keyring, file, or auto (keyring, else file)'
            cand --ca-cert 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)'
            cand --client-cert 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS'
            cand --home 'One folder for config, keys and data (tests and several local nodes use it)'
            cand --json 'Machine-readable JSON output on stdout'
            cand -v 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand --verbose 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand -q 'Less output on stderr'
            cand --quiet 'Less output on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand show 'An agent''s score, evidence, counts by event and hourly history'
            cand list 'Agents this node has seen, by score'
            cand report 'Record an outcome about an agent (signed; your key must be one of the node''s admins)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'agentmesh;trust;show'= {
            cand --node 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)'
            cand --key 'Name of the key (identity) to use'
            cand --keystore 'Where keys are kept: keyring, file, or auto (keyring, else file)'
            cand --ca-cert 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)'
            cand --client-cert 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS'
            cand --home 'One folder for config, keys and data (tests and several local nodes use it)'
            cand --json 'Machine-readable JSON output on stdout'
            cand -v 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand --verbose 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand -q 'Less output on stderr'
            cand --quiet 'Less output on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentmesh;trust;list'= {
            cand --sort 'Order: score (highest first), low (lowest first), events or recent'
            cand --limit 'How many'
            cand --node 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)'
            cand --key 'Name of the key (identity) to use'
            cand --keystore 'Where keys are kept: keyring, file, or auto (keyring, else file)'
            cand --ca-cert 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)'
            cand --client-cert 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS'
            cand --home 'One folder for config, keys and data (tests and several local nodes use it)'
            cand --json 'Machine-readable JSON output on stdout'
            cand -v 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand --verbose 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand -q 'Less output on stderr'
            cand --quiet 'Less output on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentmesh;trust;report'= {
            cand --event 'What happened'
            cand --note 'Why, for the record'
            cand --node 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)'
            cand --key 'Name of the key (identity) to use'
            cand --keystore 'Where keys are kept: keyring, file, or auto (keyring, else file)'
            cand --ca-cert 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)'
            cand --client-cert 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS'
            cand --home 'One folder for config, keys and data (tests and several local nodes use it)'
            cand --as-node 'Sign with the node''s own key (data/node.key under the home folder) instead of --key'
            cand --json 'Machine-readable JSON output on stdout'
            cand -v 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand --verbose 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand -q 'Less output on stderr'
            cand --quiet 'Less output on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentmesh;trust;help'= {
            cand show 'An agent''s score, evidence, counts by event and hourly history'
            cand list 'Agents this node has seen, by score'
            cand report 'Record an outcome about an agent (signed; your key must be one of the node''s admins)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'agentmesh;trust;help;show'= {
        }
        &'agentmesh;trust;help;list'= {
        }
        &'agentmesh;trust;help;report'= {
        }
        &'agentmesh;trust;help;help'= {
        }
        &'agentmesh;top'= {
            cand --interval 'Time between refreshes (e.g. 500ms, 2s)'
            cand --agents 'Most agents to list'
            cand --width 'Width of the printed snapshot (default: the terminal''s, or 120)'
            cand --height 'Height of the printed snapshot (default: the terminal''s, or 40)'
            cand --node 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)'
            cand --key 'Name of the key (identity) to use'
            cand --keystore 'Where keys are kept: keyring, file, or auto (keyring, else file)'
            cand --ca-cert 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)'
            cand --client-cert 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS'
            cand --home 'One folder for config, keys and data (tests and several local nodes use it)'
            cand --once 'Print one snapshot and exit (what happens anyway when stdout is not a terminal)'
            cand --json 'Machine-readable JSON output on stdout'
            cand -v 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand --verbose 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand -q 'Less output on stderr'
            cand --quiet 'Less output on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentmesh;sim'= {
            cand --nodes 'Nodes to run'
            cand --fanout 'Peers each push round goes to'
            cand --updates 'Updates registered at random nodes'
            cand --update-every 'Time between updates'
            cand --kill 'Share of nodes to kill a quarter into the run and restart later (e.g. 10%)'
            cand --partition 'Split the network in halves for this long, a third into the run (e.g. 20s)'
            cand --drop 'Share of sync messages dropped (e.g. 1%)'
            cand --sync-interval 'Pull anti-entropy interval of every node'
            cand --push-interval 'Push round interval (the batching window)'
            cand --max-peers 'Peers each node keeps'
            cand --plot 'Write the convergence plot here (SVG)'
            cand --node 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)'
            cand --key 'Name of the key (identity) to use'
            cand --keystore 'Where keys are kept: keyring, file, or auto (keyring, else file)'
            cand --ca-cert 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)'
            cand --client-cert 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS'
            cand --home 'One folder for config, keys and data (tests and several local nodes use it)'
            cand --json 'Machine-readable JSON output on stdout'
            cand -v 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand --verbose 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand -q 'Less output on stderr'
            cand --quiet 'Less output on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentmesh;completions'= {
            cand --out-dir 'Write every shell''s completions into this folder instead'
            cand --node 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)'
            cand --key 'Name of the key (identity) to use'
            cand --keystore 'Where keys are kept: keyring, file, or auto (keyring, else file)'
            cand --ca-cert 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)'
            cand --client-cert 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS'
            cand --home 'One folder for config, keys and data (tests and several local nodes use it)'
            cand --json 'Machine-readable JSON output on stdout'
            cand -v 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand --verbose 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand -q 'Less output on stderr'
            cand --quiet 'Less output on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentmesh;man'= {
            cand --out-dir 'Write one page per command into this folder (default: print agentmesh.1 to stdout)'
            cand --node 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)'
            cand --key 'Name of the key (identity) to use'
            cand --keystore 'Where keys are kept: keyring, file, or auto (keyring, else file)'
            cand --ca-cert 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)'
            cand --client-cert 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS'
            cand --home 'One folder for config, keys and data (tests and several local nodes use it)'
            cand --json 'Machine-readable JSON output on stdout'
            cand -v 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand --verbose 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand -q 'Less output on stderr'
            cand --quiet 'Less output on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentmesh;openapi'= {
            cand -o 'Write the document to this file instead of stdout'
            cand --out 'Write the document to this file instead of stdout'
            cand --node 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)'
            cand --key 'Name of the key (identity) to use'
            cand --keystore 'Where keys are kept: keyring, file, or auto (keyring, else file)'
            cand --ca-cert 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)'
            cand --client-cert 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS'
            cand --home 'One folder for config, keys and data (tests and several local nodes use it)'
            cand --json 'Machine-readable JSON output on stdout'
            cand -v 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand --verbose 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
            cand -q 'Less output on stderr'
            cand --quiet 'Less output on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentmesh;help'= {
            cand keygen 'Create a named Ed25519 identity and print its did:key'
            cand register 'Sign an agent card and publish it to a node'
            cand discover 'Find agents by what they do, in plain words'
            cand show 'Show an agent''s card, readable (default: my own)'
            cand keys 'My identities: name, ID, store, and whether each has a live card on the node'
            cand status 'Is the node up, which key am I, is my card live, is my tunnel open'
            cand invoke 'Call an agent with a signed request (through the node''s gateway, or --direct)'
            cand connect 'Hold a relay tunnel for an agent behind NAT and forward its calls to a local service'
            cand serve 'Run a node: registry, discovery, gateway, relay and trust'
            cand trust 'This node''s trust in agents: show, list, and admin reports'
            cand top 'A live view of a node: agents, trust, peers, tunnels, events'
            cand sim 'Run a federation of in-process nodes with faults and measure convergence'
            cand completions 'Print shell completions'
            cand man 'Write man pages'
            cand openapi 'Print the node API''s OpenAPI 3.1 document (what `GET /v1/openapi.json` serves)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'agentmesh;help;keygen'= {
        }
        &'agentmesh;help;register'= {
        }
        &'agentmesh;help;discover'= {
        }
        &'agentmesh;help;show'= {
        }
        &'agentmesh;help;keys'= {
        }
        &'agentmesh;help;status'= {
        }
        &'agentmesh;help;invoke'= {
        }
        &'agentmesh;help;connect'= {
        }
        &'agentmesh;help;serve'= {
        }
        &'agentmesh;help;trust'= {
            cand show 'An agent''s score, evidence, counts by event and hourly history'
            cand list 'Agents this node has seen, by score'
            cand report 'Record an outcome about an agent (signed; your key must be one of the node''s admins)'
        }
        &'agentmesh;help;trust;show'= {
        }
        &'agentmesh;help;trust;list'= {
        }
        &'agentmesh;help;trust;report'= {
        }
        &'agentmesh;help;top'= {
        }
        &'agentmesh;help;sim'= {
        }
        &'agentmesh;help;completions'= {
        }
        &'agentmesh;help;man'= {
        }
        &'agentmesh;help;openapi'= {
        }
        &'agentmesh;help;help'= {
        }
    ]
    $completions[$command]
}
