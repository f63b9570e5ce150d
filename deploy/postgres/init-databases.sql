-- Run once by the postgres image on an empty data directory (/docker-entrypoint-initdb.d):
-- one database per service, owned by POSTGRES_USER. Each service's migrate job fills its own.
CREATE DATABASE lendsimple_borrowers;
CREATE DATABASE lendsimple_loans;
CREATE DATABASE lendsimple_payments;
CREATE DATABASE lendsimple_ledger;
