complete --keep-order --exclusive --command agentmesh --arguments "(AGENTMESH_COMPLETE=fish agentmesh -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
