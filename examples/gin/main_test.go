package main

import (
	"testing"

	"github.com/stickless/stickless/examples/internal/apptest"
)

func TestApp(t *testing.T) {
	apptest.Run(t, newRouter(apptest.Manager(t)))
}
