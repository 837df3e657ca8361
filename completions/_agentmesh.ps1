
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'agentmesh' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'agentmesh'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'agentmesh' {
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Name of the key (identity) to use')
            [CompletionResult]::new('--keystore', '--keystore', [CompletionResultType]::ParameterName, 'Where keys are kept: keyring, file, or auto (keyring, else file)')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS')
            [CompletionResult]::new('--home', '--home', [CompletionResultType]::ParameterName, 'One folder for config, keys and data (tests and several local nodes use it)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('keygen', 'keygen', [CompletionResultType]::ParameterValue, 'Create a named Ed25519 identity and print its did:key')
            [CompletionResult]::new('register', 'register', [CompletionResultType]::ParameterValue, 'Sign an agent card and publish it to a node')
            [CompletionResult]::new('discover', 'discover', [CompletionResultType]::ParameterValue, 'Find agents by what they do, in plain words')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show an agent''s card, readable (default: my own)')
            [CompletionResult]::new('keys', 'keys', [CompletionResultType]::ParameterValue, 'My identities: name, ID, store, and whether each has a live card on the node')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Is the node up, which key am I, is my card live, is my tunnel open')
            [CompletionResult]::new('invoke', 'invoke', [CompletionResultType]::ParameterValue, 'Call an agent with a signed request (through the node''s gateway, or --direct)')
            [CompletionResult]::new('connect', 'connect', [CompletionResultType]::ParameterValue, 'Hold a relay tunnel for an agent behind NAT and forward its calls to a local service')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run a node: registry, discovery, gateway, relay and trust')
            [CompletionResult]::new('trust', 'trust', [CompletionResultType]::ParameterValue, 'This node''s trust in agents: show, list, and admin reports')
            [CompletionResult]::new('top', 'top', [CompletionResultType]::ParameterValue, 'A live view of a node: agents, trust, peers, tunnels, events')
            [CompletionResult]::new('sim', 'sim', [CompletionResultType]::ParameterValue, 'Run a federation of in-process nodes with faults and measure convergence')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Write man pages')
            [CompletionResult]::new('openapi', 'openapi', [CompletionResultType]::ParameterValue, 'Print the node API''s OpenAPI 3.1 document (what `GET /v1/openapi.json` serves)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'agentmesh;keygen' {
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Name of the identity (default: --key, or `default`)')
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Name of the key (identity) to use')
            [CompletionResult]::new('--keystore', '--keystore', [CompletionResultType]::ParameterName, 'Where keys are kept: keyring, file, or auto (keyring, else file)')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS')
            [CompletionResult]::new('--home', '--home', [CompletionResultType]::ParameterName, 'One folder for config, keys and data (tests and several local nodes use it)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replace an existing key of that name (its identity is lost)')
            [CompletionResult]::new('--show', '--show', [CompletionResultType]::ParameterName, 'Print an existing key''s did:key instead of creating one')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentmesh;register' {
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'Card file (TOML, or JSON when it ends in .json) with the manifest''s fields')
            [CompletionResult]::new('--from-a2a', '--from-a2a', [CompletionResultType]::ParameterName, 'Import an A2A Agent Card (a URL — a base URL reads /.well-known/agent-card.json — or a file): name, description, skills, interface; the rest kept under meta.a2a. Flags override')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Human-readable name (1–64 chars)')
            [CompletionResult]::new('--description', '--description', [CompletionResultType]::ParameterName, 'What the agent does')
            [CompletionResult]::new('--skill', '--skill', [CompletionResultType]::ParameterName, 'A skill ID (repeatable); richer skills go in --file')
            [CompletionResult]::new('--tag', '--tag', [CompletionResultType]::ParameterName, 'A tag (repeatable)')
            [CompletionResult]::new('--protocol', '--protocol', [CompletionResultType]::ParameterName, 'A protocol: http, mcp, a2a, ws, … (repeatable)')
            [CompletionResult]::new('--endpoint', '--endpoint', [CompletionResultType]::ParameterName, 'Where the agent is reached: http(s)://, ws(s):// or relay://<agent_id>')
            [CompletionResult]::new('--relay', '--relay', [CompletionResultType]::ParameterName, 'A relay node''s base URL (repeatable)')
            [CompletionResult]::new('--vector-desc', '--vector-desc', [CompletionResultType]::ParameterName, 'Text embedded for discovery instead of the description')
            [CompletionResult]::new('--qps-budget', '--qps-budget', [CompletionResultType]::ParameterName, 'Most requests per second the agent accepts')
            [CompletionResult]::new('--concurrency-limit', '--concurrency-limit', [CompletionResultType]::ParameterName, 'Most requests in flight the agent accepts')
            [CompletionResult]::new('--ttl', '--ttl', [CompletionResultType]::ParameterName, 'Card lifetime (e.g. 30d, 12h); sets expires_at')
            [CompletionResult]::new('--meta', '--meta', [CompletionResultType]::ParameterName, 'A meta entry KEY=VALUE (repeatable)')
            [CompletionResult]::new('--unset', '--unset', [CompletionResultType]::ParameterName, 'Clear a field of the current card (repeatable)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'HTTP timeout')
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Name of the key (identity) to use')
            [CompletionResult]::new('--keystore', '--keystore', [CompletionResultType]::ParameterName, 'Where keys are kept: keyring, file, or auto (keyring, else file)')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS')
            [CompletionResult]::new('--home', '--home', [CompletionResultType]::ParameterName, 'One folder for config, keys and data (tests and several local nodes use it)')
            [CompletionResult]::new('--replace', '--replace', [CompletionResultType]::ParameterName, 'Publish a whole new card from the flags and --file alone instead of editing the current one')
            [CompletionResult]::new('--revoke', '--revoke', [CompletionResultType]::ParameterName, 'Publish a signed tombstone: the agent''s card is revoked everywhere')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the signed envelope instead of publishing it')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentmesh;discover' {
            [CompletionResult]::new('--tag', '--tag', [CompletionResultType]::ParameterName, 'Only agents with this tag (repeatable; all must match)')
            [CompletionResult]::new('--protocol', '--protocol', [CompletionResultType]::ParameterName, 'Only agents speaking this protocol (http, mcp, a2a, ws, …)')
            [CompletionResult]::new('--min-trust', '--min-trust', [CompletionResultType]::ParameterName, 'Only agents whose local trust score is at least this (0–1)')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'Most results (1–100)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'HTTP timeout')
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Name of the key (identity) to use')
            [CompletionResult]::new('--keystore', '--keystore', [CompletionResultType]::ParameterName, 'Where keys are kept: keyring, file, or auto (keyring, else file)')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS')
            [CompletionResult]::new('--home', '--home', [CompletionResultType]::ParameterName, 'One folder for config, keys and data (tests and several local nodes use it)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentmesh;show' {
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'HTTP timeout')
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Name of the key (identity) to use')
            [CompletionResult]::new('--keystore', '--keystore', [CompletionResultType]::ParameterName, 'Where keys are kept: keyring, file, or auto (keyring, else file)')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS')
            [CompletionResult]::new('--home', '--home', [CompletionResultType]::ParameterName, 'One folder for config, keys and data (tests and several local nodes use it)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentmesh;keys' {
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Name of the key (identity) to use')
            [CompletionResult]::new('--keystore', '--keystore', [CompletionResultType]::ParameterName, 'Where keys are kept: keyring, file, or auto (keyring, else file)')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS')
            [CompletionResult]::new('--home', '--home', [CompletionResultType]::ParameterName, 'One folder for config, keys and data (tests and several local nodes use it)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentmesh;status' {
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Name of the key (identity) to use')
            [CompletionResult]::new('--keystore', '--keystore', [CompletionResultType]::ParameterName, 'Where keys are kept: keyring, file, or auto (keyring, else file)')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS')
            [CompletionResult]::new('--home', '--home', [CompletionResultType]::ParameterName, 'One folder for config, keys and data (tests and several local nodes use it)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentmesh;invoke' {
            [CompletionResult]::new('-d', '-d', [CompletionResultType]::ParameterName, 'Request body: inline text, @FILE, or - for stdin')
            [CompletionResult]::new('--data', '--data', [CompletionResultType]::ParameterName, 'Request body: inline text, @FILE, or - for stdin')
            [CompletionResult]::new('--path', '--path', [CompletionResultType]::ParameterName, 'Path (and query) on the agent, e.g. /forecast?days=2')
            [CompletionResult]::new('-X', '-X ', [CompletionResultType]::ParameterName, 'HTTP method (default: POST with --data, GET without)')
            [CompletionResult]::new('--method', '--method', [CompletionResultType]::ParameterName, 'HTTP method (default: POST with --data, GET without)')
            [CompletionResult]::new('-H', '-H ', [CompletionResultType]::ParameterName, 'Extra header "Name: value" (repeatable)')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'Extra header "Name: value" (repeatable)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long to wait for the answer')
            [CompletionResult]::new('--mcp', '--mcp', [CompletionResultType]::ParameterName, 'Speak MCP (Streamable HTTP): tools/list, tools/call, or any other method')
            [CompletionResult]::new('--tool', '--tool', [CompletionResultType]::ParameterName, 'The tool for `--mcp tools/call`')
            [CompletionResult]::new('--args', '--args', [CompletionResultType]::ParameterName, 'JSON arguments of the tool (`--mcp tools/call`) or params of another MCP method')
            [CompletionResult]::new('--a2a', '--a2a', [CompletionResultType]::ParameterName, 'Speak A2A: send TEXT as a user message and print the reply and task state')
            [CompletionResult]::new('--a2a-version', '--a2a-version', [CompletionResultType]::ParameterName, 'A2A methods to use: 1.0 (SendMessage), 0.3 (message/send), or auto (1.0, then 0.3)')
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Name of the key (identity) to use')
            [CompletionResult]::new('--keystore', '--keystore', [CompletionResultType]::ParameterName, 'Where keys are kept: keyring, file, or auto (keyring, else file)')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS')
            [CompletionResult]::new('--home', '--home', [CompletionResultType]::ParameterName, 'One folder for config, keys and data (tests and several local nodes use it)')
            [CompletionResult]::new('--direct', '--direct', [CompletionResultType]::ParameterName, 'Call the agent''s endpoint directly instead of through the node''s gateway')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentmesh;connect' {
            [CompletionResult]::new('--relay', '--relay', [CompletionResultType]::ParameterName, 'The relay node''s URL (default: --node)')
            [CompletionResult]::new('--forward', '--forward', [CompletionResultType]::ParameterName, 'The local service calls are forwarded to, e.g. http://127.0.0.1:8080')
            [CompletionResult]::new('--card', '--card', [CompletionResultType]::ParameterName, 'Card file (TOML or JSON, as for `register --file`) for --register')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Card name for --register')
            [CompletionResult]::new('--forward-timeout', '--forward-timeout', [CompletionResultType]::ParameterName, 'Longest wait for the local service')
            [CompletionResult]::new('--max-body', '--max-body', [CompletionResultType]::ParameterName, 'Largest body either way (e.g. 1MiB)')
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Name of the key (identity) to use')
            [CompletionResult]::new('--keystore', '--keystore', [CompletionResultType]::ParameterName, 'Where keys are kept: keyring, file, or auto (keyring, else file)')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS')
            [CompletionResult]::new('--home', '--home', [CompletionResultType]::ParameterName, 'One folder for config, keys and data (tests and several local nodes use it)')
            [CompletionResult]::new('--register', '--register', [CompletionResultType]::ParameterName, 'Publish the card with endpoint relay://<id> and this relay in `relays` (fields from --card/--name, else from the card the relay already holds)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentmesh;serve' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Address to listen on: host:port, or a port on 127.0.0.1 (port 0 picks a free one)')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Folder for the database and node key')
            [CompletionResult]::new('--public-url', '--public-url', [CompletionResultType]::ParameterName, 'URL peers and clients reach this node at')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML); default: config.toml in the home folder')
            [CompletionResult]::new('--durability', '--durability', [CompletionResultType]::ParameterName, 'Commit durability: full (survives power loss) or normal (survives a crash)')
            [CompletionResult]::new('--max-batch', '--max-batch', [CompletionResultType]::ParameterName, 'Most registrations folded into one transaction')
            [CompletionResult]::new('--embedder-dir', '--embedder-dir', [CompletionResultType]::ParameterName, 'A model2vec folder (config.json, model.safetensors, tokenizer.json) to embed cards with instead of the built-in model; changing it re-embeds every card at start')
            [CompletionResult]::new('--upstream-timeout', '--upstream-timeout', [CompletionResultType]::ParameterName, 'Longest wait for an agent''s answer through the gateway (e.g. 30s, 500ms)')
            [CompletionResult]::new('--max-body', '--max-body', [CompletionResultType]::ParameterName, 'Largest request or response body through the gateway (e.g. 1MiB, 64KiB)')
            [CompletionResult]::new('--clock-skew', '--clock-skew', [CompletionResultType]::ParameterName, 'Accepted clock skew of signed requests (e.g. 60s)')
            [CompletionResult]::new('--admin', '--admin', [CompletionResultType]::ParameterName, 'A did:key allowed to report trust events (repeatable; the node''s own key always is)')
            [CompletionResult]::new('--trust-half-life', '--trust-half-life', [CompletionResultType]::ParameterName, 'Time for trust evidence to halve (e.g. 7d, 12h)')
            [CompletionResult]::new('--trust-flush-interval', '--trust-flush-interval', [CompletionResultType]::ParameterName, 'How often changed trust records are written to the database (e.g. 5s)')
            [CompletionResult]::new('--seed', '--seed', [CompletionResultType]::ParameterName, 'A seed node to bootstrap from (repeatable)')
            [CompletionResult]::new('--sync-interval', '--sync-interval', [CompletionResultType]::ParameterName, 'Interval of pull anti-entropy with every peer (e.g. 60s)')
            [CompletionResult]::new('--fanout', '--fanout', [CompletionResultType]::ParameterName, 'Peers each eager-push round goes to')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Open connections at most; at the cap the longest-idle one is closed to make room (also capped by the descriptor limit)')
            [CompletionResult]::new('--header-timeout', '--header-timeout', [CompletionResultType]::ParameterName, 'A request head must arrive within this, and idle connections close after it (e.g. 10s)')
            [CompletionResult]::new('--body-timeout', '--body-timeout', [CompletionResultType]::ParameterName, 'Longest gap while a request body arrives (e.g. 10s)')
            [CompletionResult]::new('--write-timeout', '--write-timeout', [CompletionResultType]::ParameterName, 'Longest a write to a client may make no progress (e.g. 30s)')
            [CompletionResult]::new('--max-header-bytes', '--max-header-bytes', [CompletionResultType]::ParameterName, 'Largest request head: request line and headers (e.g. 16KiB)')
            [CompletionResult]::new('--max-sync-page', '--max-sync-page', [CompletionResultType]::ParameterName, 'Largest sync page read from a peer (e.g. 4MiB); bigger pages are asked in smaller parts')
            [CompletionResult]::new('--max-db-size', '--max-db-size', [CompletionResultType]::ParameterName, 'Largest size the database may grow to (e.g. 10GiB); past it writes answer 507')
            [CompletionResult]::new('--tls-cert', '--tls-cert', [CompletionResultType]::ParameterName, 'Serve HTTPS with this PEM certificate chain (needs --tls-key)')
            [CompletionResult]::new('--tls-key', '--tls-key', [CompletionResultType]::ParameterName, 'The PEM private key of --tls-cert')
            [CompletionResult]::new('--tls-client-ca', '--tls-client-ca', [CompletionResultType]::ParameterName, 'Require clients to present a certificate signed by this PEM CA (mutual TLS)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log format on stderr: pretty or json')
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Name of the key (identity) to use')
            [CompletionResult]::new('--keystore', '--keystore', [CompletionResultType]::ParameterName, 'Where keys are kept: keyring, file, or auto (keyring, else file)')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS')
            [CompletionResult]::new('--home', '--home', [CompletionResultType]::ParameterName, 'One folder for config, keys and data (tests and several local nodes use it)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentmesh;trust' {
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Name of the key (identity) to use')
            [CompletionResult]::new('--keystore', '--keystore', [CompletionResultType]::ParameterName, 'Where keys are kept: keyring, file, or auto (keyring, else file)')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS')
            [CompletionResult]::new('--home', '--home', [CompletionResultType]::ParameterName, 'One folder for config, keys and data (tests and several local nodes use it)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'An agent''s score, evidence, counts by event and hourly history')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Agents this node has seen, by score')
            [CompletionResult]::new('report', 'report', [CompletionResultType]::ParameterValue, 'Record an outcome about an agent (signed; your key must be one of the node''s admins)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'agentmesh;trust;show' {
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Name of the key (identity) to use')
            [CompletionResult]::new('--keystore', '--keystore', [CompletionResultType]::ParameterName, 'Where keys are kept: keyring, file, or auto (keyring, else file)')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS')
            [CompletionResult]::new('--home', '--home', [CompletionResultType]::ParameterName, 'One folder for config, keys and data (tests and several local nodes use it)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentmesh;trust;list' {
            [CompletionResult]::new('--sort', '--sort', [CompletionResultType]::ParameterName, 'Order: score (highest first), low (lowest first), events or recent')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'How many')
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Name of the key (identity) to use')
            [CompletionResult]::new('--keystore', '--keystore', [CompletionResultType]::ParameterName, 'Where keys are kept: keyring, file, or auto (keyring, else file)')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS')
            [CompletionResult]::new('--home', '--home', [CompletionResultType]::ParameterName, 'One folder for config, keys and data (tests and several local nodes use it)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentmesh;trust;report' {
            [CompletionResult]::new('--event', '--event', [CompletionResultType]::ParameterName, 'What happened')
            [CompletionResult]::new('--note', '--note', [CompletionResultType]::ParameterName, 'Why, for the record')
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Name of the key (identity) to use')
            [CompletionResult]::new('--keystore', '--keystore', [CompletionResultType]::ParameterName, 'Where keys are kept: keyring, file, or auto (keyring, else file)')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS')
            [CompletionResult]::new('--home', '--home', [CompletionResultType]::ParameterName, 'One folder for config, keys and data (tests and several local nodes use it)')
            [CompletionResult]::new('--as-node', '--as-node', [CompletionResultType]::ParameterName, 'Sign with the node''s own key (data/node.key under the home folder) instead of --key')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentmesh;trust;help' {
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'An agent''s score, evidence, counts by event and hourly history')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Agents this node has seen, by score')
            [CompletionResult]::new('report', 'report', [CompletionResultType]::ParameterValue, 'Record an outcome about an agent (signed; your key must be one of the node''s admins)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'agentmesh;trust;help;show' {
            break
        }
        'agentmesh;trust;help;list' {
            break
        }
        'agentmesh;trust;help;report' {
            break
        }
        'agentmesh;trust;help;help' {
            break
        }
        'agentmesh;top' {
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'Time between refreshes (e.g. 500ms, 2s)')
            [CompletionResult]::new('--agents', '--agents', [CompletionResultType]::ParameterName, 'Most agents to list')
            [CompletionResult]::new('--width', '--width', [CompletionResultType]::ParameterName, 'Width of the printed snapshot (default: the terminal''s, or 120)')
            [CompletionResult]::new('--height', '--height', [CompletionResultType]::ParameterName, 'Height of the printed snapshot (default: the terminal''s, or 40)')
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Name of the key (identity) to use')
            [CompletionResult]::new('--keystore', '--keystore', [CompletionResultType]::ParameterName, 'Where keys are kept: keyring, file, or auto (keyring, else file)')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS')
            [CompletionResult]::new('--home', '--home', [CompletionResultType]::ParameterName, 'One folder for config, keys and data (tests and several local nodes use it)')
            [CompletionResult]::new('--once', '--once', [CompletionResultType]::ParameterName, 'Print one snapshot and exit (what happens anyway when stdout is not a terminal)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentmesh;sim' {
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Nodes to run')
            [CompletionResult]::new('--fanout', '--fanout', [CompletionResultType]::ParameterName, 'Peers each push round goes to')
            [CompletionResult]::new('--updates', '--updates', [CompletionResultType]::ParameterName, 'Updates registered at random nodes')
            [CompletionResult]::new('--update-every', '--update-every', [CompletionResultType]::ParameterName, 'Time between updates')
            [CompletionResult]::new('--kill', '--kill', [CompletionResultType]::ParameterName, 'Share of nodes to kill a quarter into the run and restart later (e.g. 10%)')
            [CompletionResult]::new('--partition', '--partition', [CompletionResultType]::ParameterName, 'Split the network in halves for this long, a third into the run (e.g. 20s)')
            [CompletionResult]::new('--drop', '--drop', [CompletionResultType]::ParameterName, 'Share of sync messages dropped (e.g. 1%)')
            [CompletionResult]::new('--sync-interval', '--sync-interval', [CompletionResultType]::ParameterName, 'Pull anti-entropy interval of every node')
            [CompletionResult]::new('--push-interval', '--push-interval', [CompletionResultType]::ParameterName, 'Push round interval (the batching window)')
            [CompletionResult]::new('--max-peers', '--max-peers', [CompletionResultType]::ParameterName, 'Peers each node keeps')
            [CompletionResult]::new('--plot', '--plot', [CompletionResultType]::ParameterName, 'Write the convergence plot here (SVG)')
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Name of the key (identity) to use')
            [CompletionResult]::new('--keystore', '--keystore', [CompletionResultType]::ParameterName, 'Where keys are kept: keyring, file, or auto (keyring, else file)')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS')
            [CompletionResult]::new('--home', '--home', [CompletionResultType]::ParameterName, 'One folder for config, keys and data (tests and several local nodes use it)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentmesh;completions' {
            [CompletionResult]::new('--out-dir', '--out-dir', [CompletionResultType]::ParameterName, 'Write every shell''s completions into this folder instead')
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Name of the key (identity) to use')
            [CompletionResult]::new('--keystore', '--keystore', [CompletionResultType]::ParameterName, 'Where keys are kept: keyring, file, or auto (keyring, else file)')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS')
            [CompletionResult]::new('--home', '--home', [CompletionResultType]::ParameterName, 'One folder for config, keys and data (tests and several local nodes use it)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentmesh;man' {
            [CompletionResult]::new('--out-dir', '--out-dir', [CompletionResultType]::ParameterName, 'Write one page per command into this folder (default: print agentmesh.1 to stdout)')
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Name of the key (identity) to use')
            [CompletionResult]::new('--keystore', '--keystore', [CompletionResultType]::ParameterName, 'Where keys are kept: keyring, file, or auto (keyring, else file)')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS')
            [CompletionResult]::new('--home', '--home', [CompletionResultType]::ParameterName, 'One folder for config, keys and data (tests and several local nodes use it)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentmesh;openapi' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Write the document to this file instead of stdout')
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Write the document to this file instead of stdout')
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'Node to talk to (a URL, host:port, or a port on 127.0.0.1)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Name of the key (identity) to use')
            [CompletionResult]::new('--keystore', '--keystore', [CompletionResultType]::ParameterName, 'Where keys are kept: keyring, file, or auto (keyring, else file)')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Trust the CA certificates of this PEM file for https:// and wss:// (besides the system''s)')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS')
            [CompletionResult]::new('--home', '--home', [CompletionResultType]::ParameterName, 'One folder for config, keys and data (tests and several local nodes use it)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show agentmesh''s own steps on stderr: URLs, statuses, latencies, signature checks (-vv: more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less output on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentmesh;help' {
            [CompletionResult]::new('keygen', 'keygen', [CompletionResultType]::ParameterValue, 'Create a named Ed25519 identity and print its did:key')
            [CompletionResult]::new('register', 'register', [CompletionResultType]::ParameterValue, 'Sign an agent card and publish it to a node')
            [CompletionResult]::new('discover', 'discover', [CompletionResultType]::ParameterValue, 'Find agents by what they do, in plain words')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show an agent''s card, readable (default: my own)')
            [CompletionResult]::new('keys', 'keys', [CompletionResultType]::ParameterValue, 'My identities: name, ID, store, and whether each has a live card on the node')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Is the node up, which key am I, is my card live, is my tunnel open')
            [CompletionResult]::new('invoke', 'invoke', [CompletionResultType]::ParameterValue, 'Call an agent with a signed request (through the node''s gateway, or --direct)')
            [CompletionResult]::new('connect', 'connect', [CompletionResultType]::ParameterValue, 'Hold a relay tunnel for an agent behind NAT and forward its calls to a local service')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run a node: registry, discovery, gateway, relay and trust')
            [CompletionResult]::new('trust', 'trust', [CompletionResultType]::ParameterValue, 'This node''s trust in agents: show, list, and admin reports')
            [CompletionResult]::new('top', 'top', [CompletionResultType]::ParameterValue, 'A live view of a node: agents, trust, peers, tunnels, events')
            [CompletionResult]::new('sim', 'sim', [CompletionResultType]::ParameterValue, 'Run a federation of in-process nodes with faults and measure convergence')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Write man pages')
            [CompletionResult]::new('openapi', 'openapi', [CompletionResultType]::ParameterValue, 'Print the node API''s OpenAPI 3.1 document (what `GET /v1/openapi.json` serves)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'agentmesh;help;keygen' {
            break
        }
        'agentmesh;help;register' {
            break
        }
        'agentmesh;help;discover' {
            break
        }
        'agentmesh;help;show' {
            break
        }
        'agentmesh;help;keys' {
            break
        }
        'agentmesh;help;status' {
            break
        }
        'agentmesh;help;invoke' {
            break
        }
        'agentmesh;help;connect' {
            break
        }
        'agentmesh;help;serve' {
            break
        }
        'agentmesh;help;trust' {
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'An agent''s score, evidence, counts by event and hourly history')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Agents this node has seen, by score')
            [CompletionResult]::new('report', 'report', [CompletionResultType]::ParameterValue, 'Record an outcome about an agent (signed; your key must be one of the node''s admins)')
            break
        }
        'agentmesh;help;trust;show' {
            break
        }
        'agentmesh;help;trust;list' {
            break
        }
        'agentmesh;help;trust;report' {
            break
        }
        'agentmesh;help;top' {
            break
        }
        'agentmesh;help;sim' {
            break
        }
        'agentmesh;help;completions' {
            break
        }
        'agentmesh;help;man' {
            break
        }
        'agentmesh;help;openapi' {
            break
        }
        'agentmesh;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
