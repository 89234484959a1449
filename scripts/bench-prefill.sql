-- Grows a gatehouse PostgreSQL database for the "cost as data grows"
-- benchmark (make bench): :rows more token rows, with proportional users,
-- sessions, the apps each session signed in to, and consents, all copied
-- from rows the real server wrote (so their sizes and encodings are real
-- ones) with new keys. Run it after the server has served the ordinary
-- benchmark on the database, which leaves the templates:
--
--   psql URL -v rows=1000000 -v tag=g1 -v expired=0 -f scripts/bench-prefill.sql
--
-- rows     token rows to add (oauth2_tokens), copied round-robin from the
--          existing ones: every kind (access and refresh tokens, codes,
--          PKCE and OpenID records, with and without a user and a session)
--          in the proportion the benchmark wrote them. A copy keeps its
--          template's lifetime, counted from now.
--          Its key starts, as the server's do (provider/orderedtoken.go),
--          with its creation time in hex milliseconds.
-- tag      a prefix unique to this run (its keys never meet another's)
-- expired  1: every added row and session has already expired (a backlog
--          for measuring garbage collection); 0: they are live
--
-- For every 20 token rows it adds one user, and for every 10 a browser
-- session (of those users, with the session's apps) — a user signs in on
-- two devices and holds ten tokens per session. Each user has consented to
-- the apps. Token rows that carry a user or a session get one of these.
\set ON_ERROR_STOP on
\timing on
SET synchronous_commit = on;

SELECT :rows > 0 AS some \gset
\if :some
\else
  DO $$ BEGIN RAISE EXCEPTION 'bench-prefill: rows must be positive'; END $$;
\endif
SELECT (:rows / 20)::bigint AS users, (:rows / 10)::bigint AS sessions,
       (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS now_us,
       CASE WHEN :expired = 1 THEN -1 ELSE 1 END AS dir \gset

-- Templates: one user, one session and its app rows, a consent, and every
-- token row (numbered, so copy g takes template g mod count).
CREATE TEMP TABLE tuser AS SELECT * FROM users ORDER BY created_at LIMIT 1;
CREATE TEMP TABLE tsession AS SELECT * FROM browser_sessions ORDER BY created_at LIMIT 1;
CREATE TEMP TABLE tconsent AS SELECT * FROM consents ORDER BY created_at LIMIT 1;
CREATE TEMP TABLE tclients AS SELECT DISTINCT client_id FROM session_clients;
CREATE TEMP TABLE ttokens AS
  SELECT row_number() OVER (ORDER BY kind, signature) - 1 AS n, t.* FROM oauth2_tokens t
  WHERE request_id NOT LIKE 'prefill-%';
SELECT count(*) AS templates FROM ttokens \gset
SELECT (SELECT count(*) FROM tuser) = 1 AND (SELECT count(*) FROM tsession) = 1
  AND (SELECT count(*) FROM tconsent) = 1 AND :templates > 0 AS ok \gset
\if :ok
\else
  DO $$ BEGIN RAISE EXCEPTION 'bench-prefill: no templates (sign in once and issue tokens first)'; END $$;
\endif

BEGIN;
INSERT INTO users
SELECT (jsonb_populate_record(NULL::users, to_jsonb(u) || jsonb_build_object(
  'subject', 'prefill-' || :'tag' || '-u' || g,
  'email', 'prefill-' || :'tag' || '-u' || g || '@example.test',
  'created_at', :now_us, 'updated_at', :now_us))).*
FROM tuser u, generate_series(1, greatest(:users, 1)) g;

INSERT INTO browser_sessions
SELECT (jsonb_populate_record(NULL::browser_sessions, to_jsonb(s) || jsonb_build_object(
  'id_hash', '\x' || encode(sha256(convert_to(:'tag' || '-s' || g, 'UTF8')), 'hex'),
  'sid', 'prefill-' || :'tag' || '-s' || g,
  'subject', 'prefill-' || :'tag' || '-u' || (1 + g % greatest(:users, 1)),
  'created_at', :now_us,
  'expires_at', :now_us + :dir * greatest(s.expires_at - s.created_at, 1)))).*
FROM tsession s, generate_series(1, greatest(:sessions, 1)) g;

INSERT INTO session_clients
SELECT 'prefill-' || :'tag' || '-s' || g, c.client_id, :now_us
FROM tclients c, generate_series(1, greatest(:sessions, 1)) g;

INSERT INTO consents
SELECT (jsonb_populate_record(NULL::consents, to_jsonb(k) || jsonb_build_object(
  'subject', 'prefill-' || :'tag' || '-u' || g,
  'created_at', :now_us,
  'expires_at', :now_us + :dir * greatest(k.expires_at - k.created_at, 1)))).*
FROM tconsent k, generate_series(1, greatest(:users, 1)) g;
COMMIT;

-- Token rows in batches of a million, each its own transaction (a crash
-- or a cancel leaves whole batches).
SELECT ceil(:rows / 1000000.0)::int AS batches \gset
SELECT format($$
BEGIN;
INSERT INTO oauth2_tokens (kind, signature, request_id, client_id, subject, active, expires_at, created_at, data, sid)
SELECT t.kind, lpad(to_hex(%5$s / 1000), 12, '0') || 'prefill-' || %1$L || '-' || md5(t.signature || '/' || g),
  'prefill-' || %1$L || '-' || md5(t.request_id || '/' || (g / %2$s)),
  t.client_id,
  CASE WHEN t.subject = '' THEN '' ELSE 'prefill-' || %1$L || '-u' || (1 + (g / %2$s) %% greatest(%3$s, 1)) END,
  t.active, %5$s + %6$s * greatest(t.expires_at - t.created_at, 1), %5$s, t.data,
  CASE WHEN t.sid = '' THEN '' ELSE 'prefill-' || %1$L || '-s' || (1 + (g / %2$s) %% greatest(%4$s, 1)) END
FROM generate_series(%7$s + 1, least(%7$s + 1000000, %8$s)) g
JOIN ttokens t ON t.n = g %% %2$s;
COMMIT;
$$, :'tag', :templates, :users, :sessions, :now_us, :dir, (b - 1) * 1000000, :rows)
FROM generate_series(1, :batches) b \gexec

ANALYZE;
SELECT count(*) AS token_rows, pg_size_pretty(pg_total_relation_size('oauth2_tokens')) AS tokens_size,
       pg_size_pretty(pg_database_size(current_database())) AS database_size FROM oauth2_tokens;
