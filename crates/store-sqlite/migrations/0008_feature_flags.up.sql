-- Feature flags, edited by admins: the definition is JSON (enabled, rollout, targeting,
-- variants; see plansmith_domain::flags), read whole by every instance (cached).
CREATE TABLE feature_flags (
    key        TEXT PRIMARY KEY NOT NULL,
    definition TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by BLOB
);
