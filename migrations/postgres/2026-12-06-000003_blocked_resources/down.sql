DROP TABLE blocked_resources;
