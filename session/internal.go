package session

import (
	"cmp"
	"log/slog"
	"slices"
)

const errorLevel = slog.LevelError

func stringAttr(k, v string) slog.Attr { return slog.String(k, v) }
func errAttr(err error) slog.Attr      { return slog.String("err", err.Error()) }

// sortInfos orders a session list newest first.
func sortInfos(l []Info) {
	slices.SortFunc(l, func(a, b Info) int { return cmp.Or(b.Created.Compare(a.Created), cmp.Compare(a.Handle, b.Handle)) })
}
