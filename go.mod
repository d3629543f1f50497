module github.com/stickless/stickless

go 1.26
