// Package lookalike tells usernames that look alike apart (Unicode UTS #39):
// Skeleton is the confusable skeleton two look-alike names share ("аlice"
// with a Cyrillic а and "alice" have one), and CheckScripts refuses names
// that mix scripts beyond UTS #39's moderately restrictive level. The
// directory stores each user's skeleton under a UNIQUE index.
package lookalike
