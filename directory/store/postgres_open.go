package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// postgresMigrations are the schema versions; migration i brings the schema
// from version i to i+1 (table schema_version). Append, never edit.
var postgresMigrations = []string{
	// 1: users, certificates, serial sequence, sightings.
	`
	-- The primary key is the UNIQUE index on the normalised name that makes
	-- concurrent registrations of one name have exactly one winner. COLLATE
	-- "C" orders names bytewise, as SQLite does, for prefix scans and
	-- pagination.
	CREATE TABLE users (
		name          text COLLATE "C" NOT NULL PRIMARY KEY,
		display       text NOT NULL,
		password_hash text NOT NULL,
		created       timestamptz NOT NULL
	);

	CREATE SEQUENCE certificate_serial AS bigint MINVALUE 1;

	CREATE TABLE certificates (
		serial   bigint NOT NULL PRIMARY KEY,
		username text COLLATE "C" NOT NULL REFERENCES users (name) ON DELETE CASCADE ON UPDATE CASCADE,
		peer_key bytea NOT NULL,
		issued   timestamptz NOT NULL,
		expires  timestamptz NOT NULL,
		raw      bytea NOT NULL
	);
	CREATE INDEX certificates_username_issued ON certificates (username, issued);

	CREATE TABLE sightings (
		username   text COLLATE "C" NOT NULL REFERENCES users (name) ON DELETE CASCADE ON UPDATE CASCADE,
		peer_id    text COLLATE "C" NOT NULL,
		addrs      text[] NOT NULL,
		super_node boolean NOT NULL,
		seen       timestamptz NOT NULL,
		PRIMARY KEY (username, peer_id)
	);
	CREATE INDEX sightings_seen ON sightings (seen);
	CREATE INDEX sightings_super_seen ON sightings (seen) WHERE super_node;
	`,
	// 2: look-alike skeletons (UNIQUE, filled in by syncSkeletons), the
	// certified keys of a user, and the sources and verified addresses of
	// sightings. Super-node claims from before were never verified.
	`
	ALTER TABLE users ADD COLUMN skeleton text COLLATE "C";
	CREATE UNIQUE INDEX users_skeleton ON users (skeleton);
	CREATE TABLE meta (
		key   text COLLATE "C" NOT NULL PRIMARY KEY,
		value text NOT NULL
	);
	CREATE INDEX certificates_username_key ON certificates (username, peer_key);
	ALTER TABLE sightings ADD COLUMN source text NOT NULL DEFAULT '';
	ALTER TABLE sightings ADD COLUMN verified_addrs text[] NOT NULL DEFAULT '{}';
	UPDATE sightings SET super_node = false;
	`,
	// 3: disabled accounts, revoked certificates, and sightings that
	// expire (check-ins): those recorded at login expire at once.
	`
	ALTER TABLE users ADD COLUMN disabled boolean NOT NULL DEFAULT false;
	ALTER TABLE certificates ADD COLUMN revoked timestamptz; -- NULL: not revoked
	CREATE INDEX certificates_revoked ON certificates (serial) WHERE revoked IS NOT NULL;
	ALTER TABLE sightings ADD COLUMN expires timestamptz;
	UPDATE sightings SET expires = seen;
	ALTER TABLE sightings ALTER COLUMN expires SET NOT NULL;
	DROP INDEX sightings_seen;
	DROP INDEX sightings_super_seen;
	CREATE INDEX sightings_expires ON sightings (expires);
	CREATE INDEX sightings_super_expires ON sightings (expires) WHERE super_node;
	`,
}

// postgresMigrateLock is the first key of the advisory lock held while
// migrating ("pcd1"); the second is a hash of the schema being migrated, so
// replicas sharing a schema migrate one at a time and others do not wait.
const postgresMigrateLock = 0x70636431

// OpenPostgres connects to the PostgreSQL database a pgx URL names
// (postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=...&search_path=SCHEMA,
// pool_max_conns and the other pgxpool settings allowed), and creates or
// migrates its schema.
func OpenPostgres(ctx context.Context, dsn string) (Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors never include the password.
		return nil, fmt.Errorf("store: PostgreSQL URL: %w (expected postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=disable)", err)
	}
	s := &postgresStore{where: fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)}
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect to PostgreSQL at %s: %w", s.where, err)
	}
	if err := s.pool.Ping(ctx); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("store: connect to PostgreSQL at %s: %w (is the server running, and are the user, password and database in the URL right?)", s.where, err)
	}
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

// migrate brings the schema to SchemaVersion in one transaction holding an
// advisory lock, so that replicas starting at once migrate exactly once.
func (s *postgresStore) migrate(ctx context.Context) error {
	var schema *string
	var dups map[string]string
	from := -1 // the version migrated from, when a migration ran
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			return err
		}
		if schema == nil {
			return errors.New("no schema to create tables in: the search_path names no existing schema (create it, or fix search_path in the URL)")
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`, int32(postgresMigrateLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)`); err != nil {
			return err
		}
		var version int
		err := tx.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&version)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
				return err
			}
		case err != nil:
			return err
		}
		if version > len(postgresMigrations) {
			return fmt.Errorf("schema %s has version %d, newer than this program knows (%d); run a newer peercall-directory", *schema, version, len(postgresMigrations))
		}
		for v := version; v < len(postgresMigrations); v++ {
			if _, err := tx.Exec(ctx, postgresMigrations[v]); err != nil {
				return fmt.Errorf("to schema version %d: %w", v+1, err)
			}
		}
		if version < len(postgresMigrations) {
			if _, err := tx.Exec(ctx, `UPDATE schema_version SET version = $1`, len(postgresMigrations)); err != nil {
				return err
			}
			from = version
		}
		var err2 error
		if dups, err2 = syncSkeletons(ctx, pgSkeletonTx{tx}); err2 != nil {
			return fmt.Errorf("compute the look-alike skeletons: %w", err2)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: migrate PostgreSQL schema at %s: %w", s.where, err)
	}
	if from >= 0 {
		slog.Info("store: migrated PostgreSQL schema", "server", s.where, "schema", *schema, "from", from, "to", len(postgresMigrations))
	}
	logLookAlikes(dups, s.where)
	return nil
}

// pgSkeletonTx runs syncSkeletons' statements in the migration
// transaction.
type pgSkeletonTx struct{ tx pgx.Tx }

func (t pgSkeletonTx) meta(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := t.tx.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return v, err == nil, err
}

func (t pgSkeletonTx) setMeta(ctx context.Context, key, value string) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

func (t pgSkeletonTx) clearSkeletons(ctx context.Context) error {
	_, err := t.tx.Exec(ctx, `UPDATE users SET skeleton = NULL WHERE skeleton IS NOT NULL`)
	return err
}

func (t pgSkeletonTx) userNames(ctx context.Context) ([]string, error) {
	rows, err := t.tx.Query(ctx, `SELECT name FROM users ORDER BY created, name`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// setSkeletons updates in batches of arrays: one statement per 10,000 users.
func (t pgSkeletonTx) setSkeletons(ctx context.Context, names, skeletons []string) error {
	const batch = 10000
	for i := 0; i < len(names); i += batch {
		j := min(i+batch, len(names))
		_, err := t.tx.Exec(ctx, `UPDATE users AS u SET skeleton = v.skeleton
			FROM unnest($1::text[], $2::text[]) AS v (name, skeleton) WHERE u.name = v.name`, names[i:j], skeletons[i:j])
		if err != nil {
			return err
		}
	}
	return nil
}
