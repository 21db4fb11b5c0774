DROP TABLE error_groups;
