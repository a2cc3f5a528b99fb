"""Durable execution of Cloud Runner runs (spec §5) on DBOS Transact, behind our interface.

Modules: `engine` (the `DurableEngine` protocol, `EngineConfig`, `APPLICATION_VERSION`),
`dbos_engine` (workflows, steps, queues, sealing serializer on DBOS), `instance` (one
instance as checkpointable pieces and the re-send policy), `state` (serialisable
instance state: saved steps and cookie jar), `jobs` (workflow inputs/outputs), `keys`
(master key, AES-256-GCM sealing), `runtime` (per-process transport, secrets, caches),
`liveness` (heartbeats and the dead-worker sweeper), `cancel` (what a cancelled run
reports: unfinished instances `cancelled`, a summary), `sinks` (a JSON Lines result
sink), `executor` (`DurableExecutor`, the `RunExecutor`) and `worker` (process entry).
"""
