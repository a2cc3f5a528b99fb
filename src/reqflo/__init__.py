"""Reqflo: compile API journeys into immutable artifacts and run them.

Exception tree, all in `reqflo.diagnostics` (infrastructure faults and bugs only;
assertion failures and step errors are data in the run result, never exceptions):

    ReqfloError
    ├── JourneyError          a journey could not be parsed or compiled (carries Diagnostics)
    ├── ArtifactError         an artifact is malformed, tampered with or missing
    ├── RunSetupError         a run cannot start (missing input, secret or environment value)
    ├── DataFileError         a --data file is malformed (names row and column)
    ├── SecretsFileError      the local secrets file is unsafe or unreadable
    └── UsageError            (reqflo.project) a command argument names nothing usable
"""

__version__ = "0.1.0"
