DROP TABLE replication_transfers;
DROP TABLE replications;
