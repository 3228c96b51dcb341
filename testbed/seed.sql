-- Deterministic seed data for the test bed: privexbot's existing tables (users,
-- auth_identities, organizations, workspaces) plus the two shapes an upgrade must not damage:
--   audit_events has NO primary key (a naive restore duplicates its rows, undetectably by key);
--   users.email and workspaces.name are text under btree indexes (collation-sensitive);
--   tags.name (UNIQUE) and tags.label are text whose order really differs between musl's
--   en_US.utf8 (code point: A B Eb Z _x a b c e Á é) and glibc's en_US.UTF-8
--   (a A Á b B c e é Eb _x Z): an index built on one is broken on the other.
-- Run by `testbed/bed seed PROJECT SCALE` as: psql -v scale=N -f seed.sql
-- The same scale always gives the same rows, byte for byte (no random(), no now()), so
-- fingerprints from two seeded databases can be compared. About 1.7 kB per user on disk
-- (scale 50000 measured 81 MB): scale 620000 is about 1 GB.
\set ON_ERROR_STOP 1
SELECT to_regclass('public.users') IS NOT NULL AS seeded \gset
\if :seeded
\echo seed: tables already present, leaving them as they are
\quit
\endif

BEGIN;

CREATE TABLE organizations (
    id uuid PRIMARY KEY,
    name varchar(255) NOT NULL,
    slug varchar(100) NOT NULL UNIQUE,
    billing_email varchar(255),
    subscription_tier varchar(50) NOT NULL DEFAULT 'free',
    settings jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE users (
    id uuid PRIMARY KEY,
    username varchar(100) NOT NULL UNIQUE,
    email varchar(255),
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX ix_users_email ON users (email);

CREATE TABLE auth_identities (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider varchar(50) NOT NULL,
    provider_id varchar(255) NOT NULL,
    data jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (provider, provider_id)
);

CREATE TABLE workspaces (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name varchar(255) NOT NULL,
    description text,
    created_by uuid REFERENCES users (id),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX ix_workspaces_name ON workspaces (name);

-- Deliberately without a primary key.
CREATE TABLE audit_events (
    occurred_at timestamptz NOT NULL,
    actor_id uuid,
    action text NOT NULL,
    detail text
);

-- Mixed case, punctuation and non-ASCII prefixes: orderings that differ between collations.
INSERT INTO users (id, username, email, is_active, created_at, updated_at)
SELECT md5('user:' || i)::uuid,
       'user' || i,
       (ARRAY['User.', 'user-', '_user', 'Ünï.', 'o''user'])[1 + i % 5] || i || '@example.org',
       i % 17 <> 0,
       timestamptz '2024-01-01 00:00:00+00' + i * interval '37 seconds',
       timestamptz '2024-06-01 00:00:00+00' + i * interval '11 seconds'
FROM generate_series(1, :scale) AS i;

INSERT INTO organizations (id, name, slug, billing_email, subscription_tier, settings,
                           created_at, updated_at)
SELECT md5('org:' || i)::uuid,
       'Organisation ' || i,
       'org-' || i,
       'billing' || i || '@example.org',
       (ARRAY['free', 'pro', 'enterprise'])[1 + i % 3],
       jsonb_build_object('seats', i % 50, 'region', (ARRAY['eu', 'us'])[1 + i % 2]),
       timestamptz '2023-01-01 00:00:00+00' + i * interval '1 hour',
       timestamptz '2023-06-01 00:00:00+00' + i * interval '1 hour'
FROM generate_series(1, greatest(1, :scale / 10)) AS i;

INSERT INTO workspaces (id, organization_id, name, description, created_by, created_at, updated_at)
SELECT md5('ws:' || o || ':' || w)::uuid,
       md5('org:' || o)::uuid,
       (ARRAY['Default', 'default', 'Équipe', 'ops', 'Ops-2'])[1 + (o + w) % 5] || ' ' || o,
       CASE WHEN w = 1 THEN NULL ELSE 'Workspace ' || w || ' of organisation ' || o END,
       CASE WHEN :scale > 0 THEN md5('user:' || (1 + o % greatest(1, :scale)))::uuid END,
       timestamptz '2023-02-01 00:00:00+00' + o * interval '1 hour' + w * interval '1 minute',
       timestamptz '2023-07-01 00:00:00+00' + o * interval '1 hour'
FROM generate_series(1, greatest(1, :scale / 10)) AS o, generate_series(1, 2) AS w;

-- Every user has an email identity; every third one a Google identity as well.
INSERT INTO auth_identities (id, user_id, provider, provider_id, data, created_at, updated_at)
SELECT md5('auth:' || p || ':' || i)::uuid,
       md5('user:' || i)::uuid,
       p,
       CASE p WHEN 'email' THEN 'user' || i || '@example.org' ELSE 'g-' || md5('g:' || i) END,
       jsonb_build_object('verified', i % 2 = 0, 'hash', md5('h:' || p || i)),
       timestamptz '2024-01-01 00:00:00+00' + i * interval '37 seconds',
       timestamptz '2024-06-01 00:00:00+00' + i * interval '11 seconds'
FROM generate_series(1, :scale) AS i, unnest(ARRAY['email', 'google']) AS p
WHERE p = 'email' OR i % 3 = 0;

-- Four events per user; every tenth user's last event is stored twice, an exact duplicate row
-- (legal without a primary key, and exactly what a naive restore would also produce).
INSERT INTO audit_events (occurred_at, actor_id, action, detail)
SELECT timestamptz '2024-03-01 00:00:00+00' + (i * 4 + k) * interval '3 seconds',
       md5('user:' || i)::uuid,
       (ARRAY['login', 'logout', 'workspace.create', 'settings.update'])[1 + k],
       'event ' || k || ' for user ' || i || ': ' || repeat(md5('d:' || i || ':' || k), 3)
FROM generate_series(1, :scale) AS i, generate_series(0, 4) AS e,
     LATERAL (SELECT least(e, 3) AS k) AS x
WHERE e < 4 OR i % 10 = 0;

-- Collation-sensitive keys: the eleven words alone (so `WHERE name = 'a'` has exactly one
-- answer) and then scale more, each a word plus a number; mixed case, accents and `_`.
CREATE TABLE tags (
    id bigint PRIMARY KEY,
    name text NOT NULL,
    label text NOT NULL,
    CONSTRAINT tags_name_key UNIQUE (name)
);
CREATE INDEX ix_tags_label ON tags (label);
INSERT INTO tags (id, name, label)
SELECT i,
       w.word || CASE WHEN i > 11 THEN ' ' || i ELSE '' END,
       (ARRAY['Zeta', '_draft', 'alpha', 'Alpha', 'Ärger', 'éclair', 'Eclair', 'b-side'])[1 + i % 8]
           || ' ' || w.word
FROM generate_series(1, 11 + :scale) AS i,
     LATERAL (SELECT (ARRAY['A', 'B', 'Eb', 'Z', '_x', 'a', 'b', 'c', 'e', 'Á', 'é'])[1 + (i - 1) % 11]
              AS word) AS w;

COMMIT;
ANALYZE;
\echo seed: done
