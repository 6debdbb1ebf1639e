DROP TABLE appliances;
DROP TABLE wall_links;
