"""The SparkManager's services: `service` (the API's operations and following the cluster), `queue` (the
keyed work queue of status writers), `status` (recording through the state machine) and `logs` (copying
driver logs into the database)."""
