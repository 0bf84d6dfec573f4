-- monitors.last_warning: the warning of the monitor's latest result (e.g.
-- "Certificate expires in 9 days"), shown by the api beside last_error. The
-- log-writer sets it with the status from the newest result of each flush;
-- a result without a warning clears it.

-- +goose Up
ALTER TABLE monitors ADD COLUMN last_warning text;

COMMENT ON COLUMN monitors.last_warning IS 'Warning of the latest result (a passing check''s concern, e.g. a certificate about to expire); NULL when none.';

-- +goose Down
ALTER TABLE monitors DROP COLUMN last_warning;
