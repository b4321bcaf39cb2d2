"""What the tests and the benchmarks both stand on: real servers (the service, PostgreSQL, nginx), the sample
data, stores and poses as the wire carries them, the browser's flags, and the lifting scene."""
