-- Knowledge base tables for privexbot (the pgvector upgrade).
-- Runs in one transaction under cutover's advisory lock; recorded in cutover_schema_migrations.
-- Needs the `vector` extension, which the upgrade enables in its own step (so that undo can drop
-- it only if the upgrade created it).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') THEN
        RAISE EXCEPTION 'the vector extension is not installed in this database'
            USING HINT = 'run CREATE EXTENSION vector (cutover''s enable-extension step) first, on a pgvector image';
    END IF;
END
$$;

CREATE TABLE knowledge_bases (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id         uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    created_by           uuid REFERENCES users (id) ON DELETE SET NULL,
    name                 text NOT NULL,
    description          text,
    embedding_model      text NOT NULL DEFAULT 'all-MiniLM-L6-v2',
    -- Fixed by the column type of chunks.embedding.
    embedding_dimensions integer NOT NULL DEFAULT 384 CHECK (embedding_dimensions = 384),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX knowledge_bases_workspace_id_idx ON knowledge_bases (workspace_id);
CREATE INDEX knowledge_bases_created_by_idx ON knowledge_bases (created_by);

CREATE TABLE documents (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    knowledge_base_id uuid NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
    uploaded_by       uuid REFERENCES users (id) ON DELETE SET NULL,
    title             text NOT NULL,
    source_type       text NOT NULL CHECK (source_type IN ('file', 'url', 'text')),
    source_uri        text,
    content_sha256    text,
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'processing', 'ready', 'failed')),
    error_message     text,
    metadata          jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
-- The worker polls by status within a knowledge base; the FK alone is covered by its prefix.
CREATE INDEX documents_knowledge_base_id_status_idx ON documents (knowledge_base_id, status);
CREATE INDEX documents_status_idx ON documents (status);
CREATE INDEX documents_uploaded_by_idx ON documents (uploaded_by);

CREATE TABLE chunks (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    document_id       uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    knowledge_base_id uuid NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
    chunk_index       integer NOT NULL CHECK (chunk_index >= 0),
    content           text NOT NULL,
    token_count       integer,
    embedding         vector(384),
    metadata          jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    -- Chunk order within a document; also the index for reading a document's chunks in order.
    CONSTRAINT chunks_document_id_chunk_index_key UNIQUE (document_id, chunk_index)
);
CREATE INDEX chunks_knowledge_base_id_idx ON chunks (knowledge_base_id);
-- Similarity search by cosine distance (the `<=>` operator).
CREATE INDEX chunks_embedding_hnsw_idx ON chunks USING hnsw (embedding vector_cosine_ops);
