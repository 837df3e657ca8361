//! Each command's EXAMPLES, shown after `--help` and as the man pages' EXAMPLES section.

pub(super) const MAIN: &str = "\
Examples:
  agentmesh serve                                   # a node on 127.0.0.1:7070
  agentmesh keygen                                  # your identity
  agentmesh register --name weather --endpoint http://127.0.0.1:8080 --tag weather
  agentmesh discover \"will it rain tomorrow?\"
  agentmesh invoke weather --path /forecast --data '{\"city\":\"Paris\"}'
  agentmesh status";

pub(super) const KEYGEN: &str = "\
Examples:
  agentmesh keygen                          # the identity `default`
  agentmesh keygen --name billing --json
  agentmesh keygen --show                   # print an existing identity's did:key";

pub(super) const REGISTER: &str = "\
Examples:
  agentmesh register --name weather --description \"Forecasts for any city\" \\
      --endpoint http://127.0.0.1:8080 --tag weather --protocol http --qps-budget 5 --ttl 30d
  agentmesh register --file card.toml
  agentmesh register --description \"Forecasts and storm warnings\"   # edit: only this changes
  agentmesh register --unset qps_budget
  agentmesh register --replace --name weather --endpoint http://127.0.0.1:8081
  agentmesh register --from-a2a https://agent.example            # import an A2A agent card
  agentmesh register --revoke";

pub(super) const DISCOVER: &str = "\
Examples:
  agentmesh discover \"review my pull request\"
  agentmesh discover \"forecasts\" --tag weather --protocol http --min-trust 0.6 --limit 5
  agentmesh discover --tag weather --json";

pub(super) const SHOW: &str = "\
Examples:
  agentmesh show                     # my own card
  agentmesh show weather             # by card name
  agentmesh show z6Mk…zd9p3S27 --json";

pub(super) const KEYS: &str = "\
Examples:
  agentmesh keys
  agentmesh keys --json";

pub(super) const STATUS: &str = "\
Examples:
  agentmesh status
  agentmesh --node https://node.example status --json";

pub(super) const INVOKE: &str = "\
Examples:
  agentmesh invoke weather --path /forecast --data '{\"city\":\"Paris\"}'
  agentmesh invoke did:key:z6Mk… --data @request.json -v
  echo '{\"city\":\"Oslo\"}' | agentmesh invoke weather --direct --data -
  agentmesh invoke weather --mcp tools/list";

pub(super) const CONNECT: &str = "\
Examples:
  agentmesh connect --forward http://127.0.0.1:8080 --register --name weather
  agentmesh connect --relay https://relay.example --forward http://127.0.0.1:8080";

pub(super) const SERVE: &str = "\
Examples:
  agentmesh serve
  agentmesh serve --listen 0.0.0.0:7070 --public-url https://node.example --seed https://seed.example
  agentmesh serve --tls-cert cert.pem --tls-key key.pem --listen 0.0.0.0:443
  agentmesh serve --log-format json";

pub(super) const TRUST: &str = "\
Examples:
  agentmesh trust show weather
  agentmesh trust list --sort low --limit 10
  agentmesh trust report weather --event failure --note \"wrong answers\"";

pub(super) const TOP: &str = "\
Examples:
  agentmesh top
  agentmesh --node https://node.example top --interval 2s
  agentmesh top --once";

pub(super) const SIM: &str = "\
Examples:
  agentmesh sim --nodes 50
  agentmesh sim --nodes 1000 --updates 30 --update-every 3s --max-peers 12";

pub(super) const COMPLETIONS: &str = "\
Examples:
  agentmesh completions                  # the shell of $SHELL
  agentmesh completions zsh > ~/.zfunc/_agentmesh
  agentmesh completions --out-dir completions/";

pub(super) const MAN: &str = "\
Examples:
  agentmesh man | man -l -
  agentmesh man --out-dir man/";

pub(super) const OPENAPI: &str = "\
Examples:
  agentmesh openapi > openapi.json
  agentmesh openapi --out docs/openapi.json";
