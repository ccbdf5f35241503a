-- The roles of a deployment, made once by the superuser on a new primary (compose runs it
-- from init-primary.sh; run it by hand elsewhere):
--   psql -v ON_ERROR_STOP=1 -v owner_password=… -v web_password=… -v replicator_password=… \
--        -f deploy/postgres/roles.sql postgresql://postgres@PRIMARY/postgres
-- thidua_owner runs `thidua db migrate` and owns every object; it needs CREATEROLE only
-- because the first migration makes thidua_app when missing (not BYPASSRLS: the functions
-- that sweep every cluster read through policies made for their owner).
-- thidua_web is the app's login: a member of thidua_app, which owns nothing, so row-level
-- security binds every connection it makes. replicator streams WAL to the replicas.
CREATE ROLE replicator WITH LOGIN REPLICATION PASSWORD :'replicator_password';
CREATE ROLE thidua_owner WITH LOGIN CREATEROLE PASSWORD :'owner_password';
CREATE ROLE thidua_app NOLOGIN;
GRANT thidua_app TO thidua_owner WITH ADMIN OPTION;
CREATE ROLE thidua_web WITH LOGIN PASSWORD :'web_password' IN ROLE thidua_app;
CREATE DATABASE thidua OWNER thidua_owner ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE thidua FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE thidua TO thidua_web;
