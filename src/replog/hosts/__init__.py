"""Test hosts on one machine: network namespaces with their own addresses, cut for real with nftables.

`compose` reads the nodes from docker-compose.yaml, `network` makes the namespaces, `cuts` the nftables
rules, `cluster` runs the compose file's nodes on them. Used by the tests in tests/hosts and by
`replog chaos --net hosts`.
"""
