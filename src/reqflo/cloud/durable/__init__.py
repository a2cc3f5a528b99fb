"""Durable execution of Cloud Runner runs (spec §5) on DBOS Transact, behind our interface.

Modules: `engine` (the `DurableEngine` protocol, `EngineConfig`, `APPLICATION_VERSION`),
`dbos_engine` (the run workflow, queues, sealing serializer on DBOS), `instance_flow`
(the instance workflow and its checkpoints), `instance` (one instance as checkpointable
pieces and the re-send policy), `process` (per-process runtime, run spec cache and
"about to send" markers), `specs` (the run spec cache), `state` (serialisable
instance state: saved steps and cookie jar), `jobs` (workflow inputs/outputs), `keys`
(master key, AES-256-GCM sealing), `runtime` (per-process transport, secrets, caches),
`liveness` (heartbeats and the dead-worker sweeper), `cancel` (what a cancelled run
reports: unfinished instances `cancelled`, a summary), `sinks` (a JSON Lines result
sink), `executor` (`DurableExecutor`, the `RunExecutor`) and `worker` (process entry).
"""
