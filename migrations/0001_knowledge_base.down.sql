-- Reverses 0001: drops the knowledge base tables (their indexes and constraints go with them).
-- The vector extension is left alone: the upgrade's extension step owns it.
DROP TABLE IF EXISTS chunks;
DROP TABLE IF EXISTS documents;
DROP TABLE IF EXISTS knowledge_bases;
