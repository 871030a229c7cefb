// Package policyfile reads the administrator's policy.toml once: at most
// 64 KiB, TOML, only the known sections ([relay], [network], [transfer],
// [chat]); each package decodes its own section with Decode, which refuses
// a key it does not know, so a typo never lifts a rule.
package policyfile
