-- Each lease renewal reads back only the schedules changed since the previous one
-- (`changed_schedules`): an index keeps that from visiting every held row.
CREATE INDEX schedules_changed ON schedules (lease_owner, updated_at);
