-- How each session was signed in (password, password and a second factor, single
-- sign-on, ...): shown on "My account" and in the audit.
ALTER TABLE sessions ADD COLUMN method TEXT NOT NULL DEFAULT 'password' CHECK (length(method) BETWEEN 1 AND 32);
