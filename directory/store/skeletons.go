package store

import (
	"context"
	"log/slog"

	"github.com/peercall/peercall/directory/lookalike"
)

// skeletonVersionKey is the meta row holding the confusables data version
// the stored skeletons were computed with.
const skeletonVersionKey = "skeleton_version"

// skeletonTx is what syncSkeletons needs of a migration transaction.
type skeletonTx interface {
	meta(ctx context.Context, key string) (value string, ok bool, err error)
	setMeta(ctx context.Context, key, value string) error
	// clearSkeletons sets every user's skeleton to NULL.
	clearSkeletons(ctx context.Context) error
	// userNames lists every user, oldest registration first.
	userNames(ctx context.Context) ([]string, error)
	setSkeletons(ctx context.Context, names, skeletons []string) error
}

// syncSkeletons (re)computes every user's skeleton when the stored ones
// were made with other confusables data (or none: the migration that added
// the column). Users are taken oldest first, and a user whose skeleton an
// older user holds already keeps none (NULL, which the UNIQUE index
// allows): such look-alike pairs registered before the check existed stay,
// and dups maps each such name to the older one it looks like. New names
// like either are refused all the same, as the older one holds the
// skeleton.
func syncSkeletons(ctx context.Context, tx skeletonTx) (dups map[string]string, err error) {
	v, ok, err := tx.meta(ctx, skeletonVersionKey)
	if err != nil || (ok && v == lookalike.ConfusablesVersion) {
		return nil, err
	}
	if err := tx.clearSkeletons(ctx); err != nil {
		return nil, err
	}
	names, err := tx.userNames(ctx)
	if err != nil {
		return nil, err
	}
	owner := make(map[string]string, len(names))
	var keep, skels []string
	for _, n := range names {
		sk := lookalike.Skeleton(n)
		if first, taken := owner[sk]; taken {
			if dups == nil {
				dups = map[string]string{}
			}
			dups[n] = first
			continue
		}
		owner[sk] = n
		keep, skels = append(keep, n), append(skels, sk)
	}
	if err := tx.setSkeletons(ctx, keep, skels); err != nil {
		return nil, err
	}
	if err := tx.setMeta(ctx, skeletonVersionKey, lookalike.ConfusablesVersion); err != nil {
		return nil, err
	}
	if len(names) > 0 {
		slog.Info("store: computed look-alike skeletons", "users", len(names), "confusables", lookalike.ConfusablesVersion)
	}
	return dups, nil
}

// logLookAlikes tells the operator about look-alike names registered
// before they were refused.
func logLookAlikes(dups map[string]string, where string) {
	if len(dups) == 0 {
		return
	}
	shown := 0
	for n, first := range dups {
		if shown == 20 {
			break
		}
		slog.Warn("store: a user's name looks like an older user's; both keep their accounts, new look-alikes of either are refused",
			"database", where, "name", n, "looks_like", first)
		shown++
	}
	slog.Warn("store: look-alike names registered before the check", "database", where, "count", len(dups), "logged", shown)
}
