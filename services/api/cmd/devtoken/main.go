// Command devtoken mints a development token for the api's local
// development issuer: it registers the user with the chosen role in the
// database and prints a Cognito-shaped token, so that a new developer can
// call the api without AWS.
//
//	go run ./services/api/cmd/devtoken --email you@example.com --role ADMIN
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.LookupEnv); err != nil {
		fmt.Fprintf(os.Stderr, "devtoken: %v\n", err)
		os.Exit(1)
	}
}
