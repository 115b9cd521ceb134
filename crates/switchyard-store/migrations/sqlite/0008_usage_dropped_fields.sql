-- What a lossy cross-dialect conversion left out of a request (issue 18), once per record.
ALTER TABLE usage_records ADD COLUMN dropped_fields TEXT;
