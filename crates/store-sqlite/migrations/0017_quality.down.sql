DROP TABLE session_surveys;
DROP TABLE document_ratings;
