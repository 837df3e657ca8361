# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_agentmesh_global_optspecs
    string join \n node= key= keystore= json v/verbose q/quiet ca-cert= client-cert= home= h/help V/version
end

function __fish_agentmesh_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_agentmesh_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_agentmesh_using_subcommand
    set -l cmd (__fish_agentmesh_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c agentmesh -n "__fish_agentmesh_needs_command" -l node -d 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)' -r
complete -c agentmesh -n "__fish_agentmesh_needs_command" -l key -d 'Name of the key (identity) to use' -r
complete -c agentmesh -n "__fish_agentmesh_needs_command" -l keystore -d 'Where keys are kept: keyring, file, or auto (keyring, else file)' -r -f -a "keyring\t'The OS keyring only'
file\t'0600 files under the home folder only'
auto\t'The keyring, falling back to files where none answers'"
complete -c agentmesh -n "__fish_agentmesh_needs_command" -l ca-cert -d 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system\'s)' -r -F
complete -c agentmesh -n "__fish_agentmesh_needs_command" -l client-cert -d 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS' -r -F
complete -c agentmesh -n "__fish_agentmesh_needs_command" -l home -d 'One folder for config, keys and data (tests and several local nodes use it)' -r -F
complete -c agentmesh -n "__fish_agentmesh_needs_command" -l json -d 'Machine-readable JSON output on stdout'
complete -c agentmesh -n "__fish_agentmesh_needs_command" -s v -l verbose -d 'Show agentmesh\'s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
complete -c agentmesh -n "__fish_agentmesh_needs_command" -s q -l quiet -d 'Less output on stderr'
complete -c agentmesh -n "__fish_agentmesh_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentmesh -n "__fish_agentmesh_needs_command" -s V -l version -d 'Print version'
complete -c agentmesh -n "__fish_agentmesh_needs_command" -f -a "keygen" -d 'Create a named Ed25519 identity and print its did:key'
complete -c agentmesh -n "__fish_agentmesh_needs_command" -f -a "register" -d 'Sign an agent card and publish it to a node'
complete -c agentmesh -n "__fish_agentmesh_needs_command" -f -a "discover" -d 'Find agents by what they do, in plain words'
complete -c agentmesh -n "__fish_agentmesh_needs_command" -f -a "show" -d 'Show an agent\'s card, readable (default: my own)'
complete -c agentmesh -n "__fish_agentmesh_needs_command" -f -a "keys" -d 'My identities: name, ID, store, and whether each has a live card on the node'
complete -c agentmesh -n "__fish_agentmesh_needs_command" -f -a "status" -d 'Is the node up, which key am I, is my card live, is my tunnel open'
complete -c agentmesh -n "__fish_agentmesh_needs_command" -f -a "invoke" -d 'Call an agent with a signed request (through the node\'s gateway, or --direct)'
complete -c agentmesh -n "__fish_agentmesh_needs_command" -f -a "connect" -d 'Hold a relay tunnel for an agent behind NAT and forward its calls to a local service'
complete -c agentmesh -n "__fish_agentmesh_needs_command" -f -a "serve" -d 'Run a node: registry, discovery, gateway, relay and trust'
complete -c agentmesh -n "__fish_agentmesh_needs_command" -f -a "trust" -d 'This node\'s trust in agents: show, list, and admin reports'
complete -c agentmesh -n "__fish_agentmesh_needs_command" -f -a "top" -d 'A live view of a node: agents, trust, peers, tunnels, events'
complete -c agentmesh -n "__fish_agentmesh_needs_command" -f -a "sim" -d 'Run a federation of in-process nodes with faults and measure convergence'
complete -c agentmesh -n "__fish_agentmesh_needs_command" -f -a "completions" -d 'Print shell completions'
complete -c agentmesh -n "__fish_agentmesh_needs_command" -f -a "man" -d 'Write man pages'
complete -c agentmesh -n "__fish_agentmesh_needs_command" -f -a "openapi" -d 'Print the node API\'s OpenAPI 3.1 document (what `GET /v1/openapi.json` serves)'
complete -c agentmesh -n "__fish_agentmesh_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand keygen" -l name -d 'Name of the identity (default: --key, or `default`)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand keygen" -l node -d 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand keygen" -l key -d 'Name of the key (identity) to use' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand keygen" -l keystore -d 'Where keys are kept: keyring, file, or auto (keyring, else file)' -r -f -a "keyring\t'The OS keyring only'
file\t'0600 files under the home folder only'
auto\t'The keyring, falling back to files where none answers'"
complete -c agentmesh -n "__fish_agentmesh_using_subcommand keygen" -l ca-cert -d 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system\'s)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand keygen" -l client-cert -d 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand keygen" -l home -d 'One folder for config, keys and data (tests and several local nodes use it)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand keygen" -l force -d 'Replace an existing key of that name (its identity is lost)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand keygen" -l show -d 'Print an existing key\'s did:key instead of creating one'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand keygen" -l json -d 'Machine-readable JSON output on stdout'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand keygen" -s v -l verbose -d 'Show agentmesh\'s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand keygen" -s q -l quiet -d 'Less output on stderr'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand keygen" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand keygen" -s V -l version -d 'Print version'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l file -d 'Card file (TOML, or JSON when it ends in .json) with the manifest\'s fields' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l from-a2a -d 'Import an A2A Agent Card (a URL — a base URL reads /.well-known/agent-card.json — or a file): name, description, skills, interface; the rest kept under meta.a2a. Flags override' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l name -d 'Human-readable name (1–64 chars)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l description -d 'What the agent does' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l skill -d 'A skill ID (repeatable); richer skills go in --file' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l tag -d 'A tag (repeatable)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l protocol -d 'A protocol: http, mcp, a2a, ws, … (repeatable)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l endpoint -d 'Where the agent is reached: http(s)://, ws(s):// or relay://<agent_id>' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l relay -d 'A relay node\'s base URL (repeatable)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l vector-desc -d 'Text embedded for discovery instead of the description' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l qps-budget -d 'Most requests per second the agent accepts' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l concurrency-limit -d 'Most requests in flight the agent accepts' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l ttl -d 'Card lifetime (e.g. 30d, 12h); sets expires_at' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l meta -d 'A meta entry KEY=VALUE (repeatable)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l unset -d 'Clear a field of the current card (repeatable)' -r -f -a "description\t''
skills\t''
tags\t''
protocols\t''
relays\t''
vector_desc\t''
qps_budget\t''
concurrency_limit\t''
expires_at\t''
meta\t''"
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l timeout -d 'HTTP timeout' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l node -d 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l key -d 'Name of the key (identity) to use' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l keystore -d 'Where keys are kept: keyring, file, or auto (keyring, else file)' -r -f -a "keyring\t'The OS keyring only'
file\t'0600 files under the home folder only'
auto\t'The keyring, falling back to files where none answers'"
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l ca-cert -d 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system\'s)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l client-cert -d 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l home -d 'One folder for config, keys and data (tests and several local nodes use it)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l replace -d 'Publish a whole new card from the flags and --file alone instead of editing the current one'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l revoke -d 'Publish a signed tombstone: the agent\'s card is revoked everywhere'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l dry-run -d 'Print the signed envelope instead of publishing it'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -l json -d 'Machine-readable JSON output on stdout'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -s v -l verbose -d 'Show agentmesh\'s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -s q -l quiet -d 'Less output on stderr'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand register" -s V -l version -d 'Print version'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand discover" -l tag -d 'Only agents with this tag (repeatable; all must match)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand discover" -l protocol -d 'Only agents speaking this protocol (http, mcp, a2a, ws, …)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand discover" -l min-trust -d 'Only agents whose local trust score is at least this (0–1)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand discover" -l limit -d 'Most results (1–100)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand discover" -l timeout -d 'HTTP timeout' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand discover" -l node -d 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand discover" -l key -d 'Name of the key (identity) to use' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand discover" -l keystore -d 'Where keys are kept: keyring, file, or auto (keyring, else file)' -r -f -a "keyring\t'The OS keyring only'
file\t'0600 files under the home folder only'
auto\t'The keyring, falling back to files where none answers'"
complete -c agentmesh -n "__fish_agentmesh_using_subcommand discover" -l ca-cert -d 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system\'s)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand discover" -l client-cert -d 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand discover" -l home -d 'One folder for config, keys and data (tests and several local nodes use it)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand discover" -l json -d 'Machine-readable JSON output on stdout'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand discover" -s v -l verbose -d 'Show agentmesh\'s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand discover" -s q -l quiet -d 'Less output on stderr'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand discover" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand discover" -s V -l version -d 'Print version'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand show" -l timeout -d 'HTTP timeout' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand show" -l node -d 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand show" -l key -d 'Name of the key (identity) to use' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand show" -l keystore -d 'Where keys are kept: keyring, file, or auto (keyring, else file)' -r -f -a "keyring\t'The OS keyring only'
file\t'0600 files under the home folder only'
auto\t'The keyring, falling back to files where none answers'"
complete -c agentmesh -n "__fish_agentmesh_using_subcommand show" -l ca-cert -d 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system\'s)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand show" -l client-cert -d 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand show" -l home -d 'One folder for config, keys and data (tests and several local nodes use it)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand show" -l json -d 'Machine-readable JSON output on stdout'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand show" -s v -l verbose -d 'Show agentmesh\'s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand show" -s q -l quiet -d 'Less output on stderr'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand show" -s V -l version -d 'Print version'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand keys" -l node -d 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand keys" -l key -d 'Name of the key (identity) to use' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand keys" -l keystore -d 'Where keys are kept: keyring, file, or auto (keyring, else file)' -r -f -a "keyring\t'The OS keyring only'
file\t'0600 files under the home folder only'
auto\t'The keyring, falling back to files where none answers'"
complete -c agentmesh -n "__fish_agentmesh_using_subcommand keys" -l ca-cert -d 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system\'s)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand keys" -l client-cert -d 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand keys" -l home -d 'One folder for config, keys and data (tests and several local nodes use it)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand keys" -l json -d 'Machine-readable JSON output on stdout'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand keys" -s v -l verbose -d 'Show agentmesh\'s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand keys" -s q -l quiet -d 'Less output on stderr'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand keys" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand keys" -s V -l version -d 'Print version'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand status" -l node -d 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand status" -l key -d 'Name of the key (identity) to use' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand status" -l keystore -d 'Where keys are kept: keyring, file, or auto (keyring, else file)' -r -f -a "keyring\t'The OS keyring only'
file\t'0600 files under the home folder only'
auto\t'The keyring, falling back to files where none answers'"
complete -c agentmesh -n "__fish_agentmesh_using_subcommand status" -l ca-cert -d 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system\'s)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand status" -l client-cert -d 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand status" -l home -d 'One folder for config, keys and data (tests and several local nodes use it)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand status" -l json -d 'Machine-readable JSON output on stdout'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand status" -s v -l verbose -d 'Show agentmesh\'s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand status" -s q -l quiet -d 'Less output on stderr'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand status" -s V -l version -d 'Print version'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand invoke" -s d -l data -d 'Request body: inline text, @FILE, or - for stdin' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand invoke" -l path -d 'Path (and query) on the agent, e.g. /forecast?days=2' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand invoke" -s X -l method -d 'HTTP method (default: POST with --data, GET without)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand invoke" -s H -l header -d 'Extra header "Name: value" (repeatable)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand invoke" -l timeout -d 'How long to wait for the answer' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand invoke" -l mcp -d 'Speak MCP (Streamable HTTP): tools/list, tools/call, or any other method' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand invoke" -l tool -d 'The tool for `--mcp tools/call`' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand invoke" -l args -d 'JSON arguments of the tool (`--mcp tools/call`) or params of another MCP method' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand invoke" -l a2a -d 'Speak A2A: send TEXT as a user message and print the reply and task state' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand invoke" -l a2a-version -d 'A2A methods to use: 1.0 (SendMessage), 0.3 (message/send), or auto (1.0, then 0.3)' -r -f -a "auto\t''
1.0\t''
0.3\t''"
complete -c agentmesh -n "__fish_agentmesh_using_subcommand invoke" -l node -d 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand invoke" -l key -d 'Name of the key (identity) to use' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand invoke" -l keystore -d 'Where keys are kept: keyring, file, or auto (keyring, else file)' -r -f -a "keyring\t'The OS keyring only'
file\t'0600 files under the home folder only'
auto\t'The keyring, falling back to files where none answers'"
complete -c agentmesh -n "__fish_agentmesh_using_subcommand invoke" -l ca-cert -d 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system\'s)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand invoke" -l client-cert -d 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand invoke" -l home -d 'One folder for config, keys and data (tests and several local nodes use it)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand invoke" -l direct -d 'Call the agent\'s endpoint directly instead of through the node\'s gateway'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand invoke" -l json -d 'Machine-readable JSON output on stdout'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand invoke" -s v -l verbose -d 'Show agentmesh\'s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand invoke" -s q -l quiet -d 'Less output on stderr'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand invoke" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand invoke" -s V -l version -d 'Print version'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand connect" -l relay -d 'The relay node\'s URL (default: --node)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand connect" -l forward -d 'The local service calls are forwarded to, e.g. http://127.0.0.1:8080' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand connect" -l card -d 'Card file (TOML or JSON, as for `register --file`) for --register' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand connect" -l name -d 'Card name for --register' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand connect" -l forward-timeout -d 'Longest wait for the local service' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand connect" -l max-body -d 'Largest body either way (e.g. 1MiB)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand connect" -l node -d 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand connect" -l key -d 'Name of the key (identity) to use' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand connect" -l keystore -d 'Where keys are kept: keyring, file, or auto (keyring, else file)' -r -f -a "keyring\t'The OS keyring only'
file\t'0600 files under the home folder only'
auto\t'The keyring, falling back to files where none answers'"
complete -c agentmesh -n "__fish_agentmesh_using_subcommand connect" -l ca-cert -d 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system\'s)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand connect" -l client-cert -d 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand connect" -l home -d 'One folder for config, keys and data (tests and several local nodes use it)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand connect" -l register -d 'Publish the card with endpoint relay://<id> and this relay in `relays` (fields from --card/--name, else from the card the relay already holds)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand connect" -l json -d 'Machine-readable JSON output on stdout'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand connect" -s v -l verbose -d 'Show agentmesh\'s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand connect" -s q -l quiet -d 'Less output on stderr'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand connect" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand connect" -s V -l version -d 'Print version'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l listen -d 'Address to listen on: host:port, or a port on 127.0.0.1 (port 0 picks a free one)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l data-dir -d 'Folder for the database and node key' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l public-url -d 'URL peers and clients reach this node at' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l config -d 'Config file (TOML); default: config.toml in the home folder' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l durability -d 'Commit durability: full (survives power loss) or normal (survives a crash)' -r -f -a "full\t'synchronous=FULL'
normal\t'synchronous=NORMAL'"
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l max-batch -d 'Most registrations folded into one transaction' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l embedder-dir -d 'A model2vec folder (config.json, model.safetensors, tokenizer.json) to embed cards with instead of the built-in model; changing it re-embeds every card at start' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l upstream-timeout -d 'Longest wait for an agent\'s answer through the gateway (e.g. 30s, 500ms)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l max-body -d 'Largest request or response body through the gateway (e.g. 1MiB, 64KiB)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l clock-skew -d 'Accepted clock skew of signed requests (e.g. 60s)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l admin -d 'A did:key allowed to report trust events (repeatable; the node\'s own key always is)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l trust-half-life -d 'Time for trust evidence to halve (e.g. 7d, 12h)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l trust-flush-interval -d 'How often changed trust records are written to the database (e.g. 5s)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l seed -d 'A seed node to bootstrap from (repeatable)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l sync-interval -d 'Interval of pull anti-entropy with every peer (e.g. 60s)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l fanout -d 'Peers each eager-push round goes to' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l max-connections -d 'Open connections at most; at the cap the longest-idle one is closed to make room (also capped by the descriptor limit)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l header-timeout -d 'A request head must arrive within this, and idle connections close after it (e.g. 10s)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l body-timeout -d 'Longest gap while a request body arrives (e.g. 10s)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l write-timeout -d 'Longest a write to a client may make no progress (e.g. 30s)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l max-header-bytes -d 'Largest request head: request line and headers (e.g. 16KiB)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l max-sync-page -d 'Largest sync page read from a peer (e.g. 4MiB); bigger pages are asked in smaller parts' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l max-db-size -d 'Largest size the database may grow to (e.g. 10GiB); past it writes answer 507' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l tls-cert -d 'Serve HTTPS with this PEM certificate chain (needs --tls-key)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l tls-key -d 'The PEM private key of --tls-cert' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l tls-client-ca -d 'Require clients to present a certificate signed by this PEM CA (mutual TLS)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l log-format -d 'Log format on stderr: pretty or json' -r -f -a "pretty\t''
json\t''"
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l node -d 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l key -d 'Name of the key (identity) to use' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l keystore -d 'Where keys are kept: keyring, file, or auto (keyring, else file)' -r -f -a "keyring\t'The OS keyring only'
file\t'0600 files under the home folder only'
auto\t'The keyring, falling back to files where none answers'"
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l ca-cert -d 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system\'s)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l client-cert -d 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l home -d 'One folder for config, keys and data (tests and several local nodes use it)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -l json -d 'Machine-readable JSON output on stdout'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -s v -l verbose -d 'Show agentmesh\'s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -s q -l quiet -d 'Less output on stderr'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand serve" -s V -l version -d 'Print version'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and not __fish_seen_subcommand_from show list report help" -l node -d 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and not __fish_seen_subcommand_from show list report help" -l key -d 'Name of the key (identity) to use' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and not __fish_seen_subcommand_from show list report help" -l keystore -d 'Where keys are kept: keyring, file, or auto (keyring, else file)' -r -f -a "keyring\t'The OS keyring only'
file\t'0600 files under the home folder only'
auto\t'The keyring, falling back to files where none answers'"
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and not __fish_seen_subcommand_from show list report help" -l ca-cert -d 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system\'s)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and not __fish_seen_subcommand_from show list report help" -l client-cert -d 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and not __fish_seen_subcommand_from show list report help" -l home -d 'One folder for config, keys and data (tests and several local nodes use it)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and not __fish_seen_subcommand_from show list report help" -l json -d 'Machine-readable JSON output on stdout'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and not __fish_seen_subcommand_from show list report help" -s v -l verbose -d 'Show agentmesh\'s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and not __fish_seen_subcommand_from show list report help" -s q -l quiet -d 'Less output on stderr'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and not __fish_seen_subcommand_from show list report help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and not __fish_seen_subcommand_from show list report help" -s V -l version -d 'Print version'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and not __fish_seen_subcommand_from show list report help" -f -a "show" -d 'An agent\'s score, evidence, counts by event and hourly history'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and not __fish_seen_subcommand_from show list report help" -f -a "list" -d 'Agents this node has seen, by score'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and not __fish_seen_subcommand_from show list report help" -f -a "report" -d 'Record an outcome about an agent (signed; your key must be one of the node\'s admins)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and not __fish_seen_subcommand_from show list report help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from show" -l node -d 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from show" -l key -d 'Name of the key (identity) to use' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from show" -l keystore -d 'Where keys are kept: keyring, file, or auto (keyring, else file)' -r -f -a "keyring\t'The OS keyring only'
file\t'0600 files under the home folder only'
auto\t'The keyring, falling back to files where none answers'"
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from show" -l ca-cert -d 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system\'s)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from show" -l client-cert -d 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from show" -l home -d 'One folder for config, keys and data (tests and several local nodes use it)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from show" -l json -d 'Machine-readable JSON output on stdout'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from show" -s v -l verbose -d 'Show agentmesh\'s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Less output on stderr'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from list" -l sort -d 'Order: score (highest first), low (lowest first), events or recent' -r -f -a "score\t''
low\t''
events\t''
recent\t''"
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from list" -l limit -d 'How many' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from list" -l node -d 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from list" -l key -d 'Name of the key (identity) to use' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from list" -l keystore -d 'Where keys are kept: keyring, file, or auto (keyring, else file)' -r -f -a "keyring\t'The OS keyring only'
file\t'0600 files under the home folder only'
auto\t'The keyring, falling back to files where none answers'"
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from list" -l ca-cert -d 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system\'s)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from list" -l client-cert -d 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from list" -l home -d 'One folder for config, keys and data (tests and several local nodes use it)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from list" -l json -d 'Machine-readable JSON output on stdout'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Show agentmesh\'s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Less output on stderr'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from report" -l event -d 'What happened' -r -f -a "success\t'A good answer'
failure\t'A wrong or failed answer'
timeout\t'No answer in time'
bad-signature\t'A forged or broken response signature'
rate-limit\t'Calls beyond its limits'"
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from report" -l note -d 'Why, for the record' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from report" -l node -d 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from report" -l key -d 'Name of the key (identity) to use' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from report" -l keystore -d 'Where keys are kept: keyring, file, or auto (keyring, else file)' -r -f -a "keyring\t'The OS keyring only'
file\t'0600 files under the home folder only'
auto\t'The keyring, falling back to files where none answers'"
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from report" -l ca-cert -d 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system\'s)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from report" -l client-cert -d 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from report" -l home -d 'One folder for config, keys and data (tests and several local nodes use it)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from report" -l as-node -d 'Sign with the node\'s own key (data/node.key under the home folder) instead of --key'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from report" -l json -d 'Machine-readable JSON output on stdout'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from report" -s v -l verbose -d 'Show agentmesh\'s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from report" -s q -l quiet -d 'Less output on stderr'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from report" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from report" -s V -l version -d 'Print version'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from help" -f -a "show" -d 'An agent\'s score, evidence, counts by event and hourly history'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from help" -f -a "list" -d 'Agents this node has seen, by score'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from help" -f -a "report" -d 'Record an outcome about an agent (signed; your key must be one of the node\'s admins)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand trust; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand top" -l interval -d 'Time between refreshes (e.g. 500ms, 2s)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand top" -l agents -d 'Most agents to list' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand top" -l width -d 'Width of the printed snapshot (default: the terminal\'s, or 120)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand top" -l height -d 'Height of the printed snapshot (default: the terminal\'s, or 40)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand top" -l node -d 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand top" -l key -d 'Name of the key (identity) to use' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand top" -l keystore -d 'Where keys are kept: keyring, file, or auto (keyring, else file)' -r -f -a "keyring\t'The OS keyring only'
file\t'0600 files under the home folder only'
auto\t'The keyring, falling back to files where none answers'"
complete -c agentmesh -n "__fish_agentmesh_using_subcommand top" -l ca-cert -d 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system\'s)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand top" -l client-cert -d 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand top" -l home -d 'One folder for config, keys and data (tests and several local nodes use it)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand top" -l once -d 'Print one snapshot and exit (what happens anyway when stdout is not a terminal)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand top" -l json -d 'Machine-readable JSON output on stdout'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand top" -s v -l verbose -d 'Show agentmesh\'s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand top" -s q -l quiet -d 'Less output on stderr'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand top" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand top" -s V -l version -d 'Print version'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand sim" -l nodes -d 'Nodes to run' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand sim" -l fanout -d 'Peers each push round goes to' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand sim" -l updates -d 'Updates registered at random nodes' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand sim" -l update-every -d 'Time between updates' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand sim" -l kill -d 'Share of nodes to kill a quarter into the run and restart later (e.g. 10%)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand sim" -l partition -d 'Split the network in halves for this long, a third into the run (e.g. 20s)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand sim" -l drop -d 'Share of sync messages dropped (e.g. 1%)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand sim" -l sync-interval -d 'Pull anti-entropy interval of every node' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand sim" -l push-interval -d 'Push round interval (the batching window)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand sim" -l max-peers -d 'Peers each node keeps' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand sim" -l plot -d 'Write the convergence plot here (SVG)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand sim" -l node -d 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand sim" -l key -d 'Name of the key (identity) to use' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand sim" -l keystore -d 'Where keys are kept: keyring, file, or auto (keyring, else file)' -r -f -a "keyring\t'The OS keyring only'
file\t'0600 files under the home folder only'
auto\t'The keyring, falling back to files where none answers'"
complete -c agentmesh -n "__fish_agentmesh_using_subcommand sim" -l ca-cert -d 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system\'s)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand sim" -l client-cert -d 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand sim" -l home -d 'One folder for config, keys and data (tests and several local nodes use it)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand sim" -l json -d 'Machine-readable JSON output on stdout'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand sim" -s v -l verbose -d 'Show agentmesh\'s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand sim" -s q -l quiet -d 'Less output on stderr'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand sim" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand sim" -s V -l version -d 'Print version'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand completions" -l out-dir -d 'Write every shell\'s completions into this folder instead' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand completions" -l node -d 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand completions" -l key -d 'Name of the key (identity) to use' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand completions" -l keystore -d 'Where keys are kept: keyring, file, or auto (keyring, else file)' -r -f -a "keyring\t'The OS keyring only'
file\t'0600 files under the home folder only'
auto\t'The keyring, falling back to files where none answers'"
complete -c agentmesh -n "__fish_agentmesh_using_subcommand completions" -l ca-cert -d 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system\'s)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand completions" -l client-cert -d 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand completions" -l home -d 'One folder for config, keys and data (tests and several local nodes use it)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand completions" -l json -d 'Machine-readable JSON output on stdout'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand completions" -s v -l verbose -d 'Show agentmesh\'s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand completions" -s q -l quiet -d 'Less output on stderr'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand completions" -s V -l version -d 'Print version'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand man" -l out-dir -d 'Write one page per command into this folder (default: print agentmesh.1 to stdout)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand man" -l node -d 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand man" -l key -d 'Name of the key (identity) to use' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand man" -l keystore -d 'Where keys are kept: keyring, file, or auto (keyring, else file)' -r -f -a "keyring\t'The OS keyring only'
file\t'0600 files under the home folder only'
auto\t'The keyring, falling back to files where none answers'"
complete -c agentmesh -n "__fish_agentmesh_using_subcommand man" -l ca-cert -d 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system\'s)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand man" -l client-cert -d 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand man" -l home -d 'One folder for config, keys and data (tests and several local nodes use it)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand man" -l json -d 'Machine-readable JSON output on stdout'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand man" -s v -l verbose -d 'Show agentmesh\'s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand man" -s q -l quiet -d 'Less output on stderr'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand man" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand man" -s V -l version -d 'Print version'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand openapi" -s o -l out -d 'Write the document to this file instead of stdout' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand openapi" -l node -d 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand openapi" -l key -d 'Name of the key (identity) to use' -r
complete -c agentmesh -n "__fish_agentmesh_using_subcommand openapi" -l keystore -d 'Where keys are kept: keyring, file, or auto (keyring, else file)' -r -f -a "keyring\t'The OS keyring only'
file\t'0600 files under the home folder only'
auto\t'The keyring, falling back to files where none answers'"
complete -c agentmesh -n "__fish_agentmesh_using_subcommand openapi" -l ca-cert -d 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system\'s)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand openapi" -l client-cert -d 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand openapi" -l home -d 'One folder for config, keys and data (tests and several local nodes use it)' -r -F
complete -c agentmesh -n "__fish_agentmesh_using_subcommand openapi" -l json -d 'Machine-readable JSON output on stdout'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand openapi" -s v -l verbose -d 'Show agentmesh\'s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand openapi" -s q -l quiet -d 'Less output on stderr'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand openapi" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand openapi" -s V -l version -d 'Print version'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand help; and not __fish_seen_subcommand_from keygen register discover show keys status invoke connect serve trust top sim completions man openapi help" -f -a "keygen" -d 'Create a named Ed25519 identity and print its did:key'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand help; and not __fish_seen_subcommand_from keygen register discover show keys status invoke connect serve trust top sim completions man openapi help" -f -a "register" -d 'Sign an agent card and publish it to a node'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand help; and not __fish_seen_subcommand_from keygen register discover show keys status invoke connect serve trust top sim completions man openapi help" -f -a "discover" -d 'Find agents by what they do, in plain words'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand help; and not __fish_seen_subcommand_from keygen register discover show keys status invoke connect serve trust top sim completions man openapi help" -f -a "show" -d 'Show an agent\'s card, readable (default: my own)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand help; and not __fish_seen_subcommand_from keygen register discover show keys status invoke connect serve trust top sim completions man openapi help" -f -a "keys" -d 'My identities: name, ID, store, and whether each has a live card on the node'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand help; and not __fish_seen_subcommand_from keygen register discover show keys status invoke connect serve trust top sim completions man openapi help" -f -a "status" -d 'Is the node up, which key am I, is my card live, is my tunnel open'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand help; and not __fish_seen_subcommand_from keygen register discover show keys status invoke connect serve trust top sim completions man openapi help" -f -a "invoke" -d 'Call an agent with a signed request (through the node\'s gateway, or --direct)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand help; and not __fish_seen_subcommand_from keygen register discover show keys status invoke connect serve trust top sim completions man openapi help" -f -a "connect" -d 'Hold a relay tunnel for an agent behind NAT and forward its calls to a local service'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand help; and not __fish_seen_subcommand_from keygen register discover show keys status invoke connect serve trust top sim completions man openapi help" -f -a "serve" -d 'Run a node: registry, discovery, gateway, relay and trust'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand help; and not __fish_seen_subcommand_from keygen register discover show keys status invoke connect serve trust top sim completions man openapi help" -f -a "trust" -d 'This node\'s trust in agents: show, list, and admin reports'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand help; and not __fish_seen_subcommand_from keygen register discover show keys status invoke connect serve trust top sim completions man openapi help" -f -a "top" -d 'A live view of a node: agents, trust, peers, tunnels, events'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand help; and not __fish_seen_subcommand_from keygen register discover show keys status invoke connect serve trust top sim completions man openapi help" -f -a "sim" -d 'Run a federation of in-process nodes with faults and measure convergence'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand help; and not __fish_seen_subcommand_from keygen register discover show keys status invoke connect serve trust top sim completions man openapi help" -f -a "completions" -d 'Print shell completions'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand help; and not __fish_seen_subcommand_from keygen register discover show keys status invoke connect serve trust top sim completions man openapi help" -f -a "man" -d 'Write man pages'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand help; and not __fish_seen_subcommand_from keygen register discover show keys status invoke connect serve trust top sim completions man openapi help" -f -a "openapi" -d 'Print the node API\'s OpenAPI 3.1 document (what `GET /v1/openapi.json` serves)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand help; and not __fish_seen_subcommand_from keygen register discover show keys status invoke connect serve trust top sim completions man openapi help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand help; and __fish_seen_subcommand_from trust" -f -a "show" -d 'An agent\'s score, evidence, counts by event and hourly history'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand help; and __fish_seen_subcommand_from trust" -f -a "list" -d 'Agents this node has seen, by score'
complete -c agentmesh -n "__fish_agentmesh_using_subcommand help; and __fish_seen_subcommand_from trust" -f -a "report" -d 'Record an outcome about an agent (signed; your key must be one of the node\'s admins)'
