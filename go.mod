module github.com/stickless/stickless

go 1.26

require (
	github.com/chromedp/chromedp v0.23.0
	github.com/redis/rueidis v1.0.79
)

require (
	github.com/chromedp/cdproto v0.159.0 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	golang.org/x/sys v0.47.0 // indirect
)
