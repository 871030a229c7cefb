package main

import (
	"context"
	"crypto/ed25519"
	"fmt"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/home"
)

// runInit writes the directory URL and its pinned key into config.toml.
// Without --directory-key the key is fetched from the directory (trust on
// first use) and printed so the user can compare it with the published one.
func runInit(ctx context.Context, e *env, args []string) error {
	const synopsis = "--directory URL [--directory-key KEY]"
	fs := newFlagSet(e, "init")
	dirURL := fs.String("directory", "", "the directory's URL (https://HOST:PORT; http only on loopback)")
	keyText := fs.String("directory-key", "", "the directory's public key (ed25519:...); fetched and pinned when omitted")
	pos, err := parseArgs(e, fs, args, synopsis)
	if err != nil {
		return err
	}
	if err := exactArgs(fs, pos, 0, synopsis); err != nil {
		return err
	}
	if *dirURL == "" {
		return usageErrorf("init needs --directory URL; usage: peercall init %s", synopsis)
	}
	base, err := directory.ParseDirectoryURL(*dirURL)
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	hm, err := e.openHome()
	if err != nil {
		return err
	}
	cfg, err := hm.Config()
	if err != nil {
		return err
	}

	var key ed25519.PublicKey
	fetched := *keyText == ""
	if fetched {
		c, err := e.newClient(base.String(), nil)
		if err != nil {
			return err
		}
		key, err = c.Key(ctx)
		c.Close()
		if err != nil {
			return &userError{
				msg: fmt.Sprintf("could not fetch the key of the directory at %s: %v\nCheck the URL, or give the key the operator published with --directory-key.", base, err),
				err: err,
			}
		}
		if old := cfg.Directory.Key; old != "" && old != crypto.EncodePublicKey(key) {
			return fmt.Errorf("the directory at %s presents key %s, but %s is pinned in %s: "+
				"either this is not the same directory, or its key changed; if the operator confirms the new key, run "+
				"`peercall init --directory %s --directory-key %s`",
				base, crypto.EncodePublicKey(key), old, hm.Path(home.ConfigFile), base, crypto.EncodePublicKey(key))
		}
	} else if key, err = crypto.ParsePublicKey(*keyText); err != nil {
		return usageErrorf("--directory-key: %v; give the key the directory printed at its first start (ed25519:...)", err)
	}

	cfg.Directory = home.DirectoryConfig{URL: base.String(), Key: crypto.EncodePublicKey(key)}
	if err := hm.SaveConfig(cfg); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "directory:     %s\n", cfg.Directory.URL)
	fmt.Fprintf(e.stdout, "directory key: %s\n", cfg.Directory.Key)
	if fetched {
		fmt.Fprintf(e.stdout, "The key was fetched from the directory (trust on first use) and is now pinned in %s.\n", hm.Path(home.ConfigFile))
		fmt.Fprintln(e.stdout, "Compare it with the key the directory's operator published: from now on only a server holding this key is accepted.")
	} else {
		fmt.Fprintf(e.stdout, "The key is pinned in %s.\n", hm.Path(home.ConfigFile))
	}
	fmt.Fprintln(e.stdout, "Next: peercall register NAME (a new account) or peercall login NAME.")
	return nil
}
