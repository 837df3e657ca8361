
set edit:completion:arg-completer[agentmesh] = { |@words|
    var index = (count $words)
    set index = (- $index 1)

    put (env _CLAP_IFS="\n" _CLAP_COMPLETE_INDEX=(to-string $index) AGENTMESH_COMPLETE="elvish" agentmesh -- $@words) | to-lines
}

