DROP TABLE smart_samples;
