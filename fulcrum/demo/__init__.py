"""`fulcrum demo`: the whole system end to end on the embedded defaults.

The demo is an orchestrator, not a component: every offline step runs as its own `fulcrum ...`
sub-process (so each shows its own progress and frees its memory), the server runs as a
`fulcrum serve` sub-process on a free loopback port, and the demo talks to it only over gRPC.
Modules: ``freshness`` (skip a step whose inputs did not change), ``pipeline`` (the offline
steps), ``processes`` (sub-processes and their clean shutdown), ``replay`` (the test period
through IngestEvents or Kafka), ``showcase`` (what the user sees), ``command`` (the CLI entry).
"""
