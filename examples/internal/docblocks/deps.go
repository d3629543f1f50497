// Package docblocks holds the test that compiles every Go block of the
// README and of docs/. This file imports the modules that those blocks
// may use and that no example imports, so that go mod tidy keeps them in
// the examples module's go.mod.
package docblocks

import (
	_ "github.com/stickless/stickless/otelsession"
	_ "github.com/stickless/stickless/prom"
)
