-- +goose Up

ALTER TABLE credentials
    ADD COLUMN issued_at          timestamptz,
    ADD COLUMN low_traffic_window text NOT NULL DEFAULT '';

COMMENT ON COLUMN credentials.issued_at IS 'When Persium issued the secret in use, from the configuration; the first due date counts from it until rotor retires a secret.';
COMMENT ON COLUMN credentials.low_traffic_window IS 'The window for promote and retire, such as "Tue 02:00-04:00 Europe/London"; empty for none.';

-- +goose Down

ALTER TABLE credentials DROP COLUMN low_traffic_window, DROP COLUMN issued_at;
