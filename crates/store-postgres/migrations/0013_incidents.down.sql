DROP TABLE incident_recipients;
DROP TABLE incidents;
