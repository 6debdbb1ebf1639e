DROP TABLE job_secrets;
DROP TABLE peers;
DROP TABLE pairing_codes;
DROP TABLE link_identity;
