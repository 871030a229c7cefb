package contacts

import (
	"context"
	"time"
)

// Blocked says whether username is on the block list (what chat and file
// transfer refuse). A store that cannot be read blocks nobody.
func (s *Store) Blocked(username string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := s.Get(ctx, username)
	return err == nil && r.State == StateBlocked
}
