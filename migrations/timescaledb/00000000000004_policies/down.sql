DROP TABLE marketseries_policies;
