package transport

import (
	"context"
	"errors"
	"fmt"
	"net/mail"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/smithy-go"

	"github.com/servercheck/uptime/services/notifier/internal/email"
)

// SESConfig configures the SES sender. Credentials left empty come from the
// standard AWS chain (environment, shared files, instance role).
type SESConfig struct {
	Region          string
	From            string
	Endpoint        string
	AccessKeyID     string
	SecretAccessKey string
}

// SES sends with Amazon SES SendEmail (the v1 API the replaced service used).
type SES struct {
	client *ses.Client
	from   string
}

// NewSES builds the SES client. Retries are the Mailer's, so the SDK's own
// retryer is limited to one attempt.
func NewSES(ctx context.Context, cfg SESConfig) (*SES, error) {
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(cfg.Region),
		awsconfig.WithRetryMaxAttempts(1),
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	client := ses.NewFromConfig(awsCfg, func(o *ses.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return &SES{client: client, from: cfg.From}, nil
}

// Send calls SendEmail with a UTF-8 subject, text and HTML body.
func (s *SES) Send(ctx context.Context, msg email.Message) error {
	if _, err := mail.ParseAddress(msg.To); err != nil {
		return fmt.Errorf("%w: recipient %q: %w", ErrRejected, msg.To, err)
	}
	utf8 := aws.String("UTF-8")
	_, err := s.client.SendEmail(ctx, &ses.SendEmailInput{
		Source:      aws.String(s.from),
		Destination: &types.Destination{ToAddresses: []string{msg.To}},
		Message: &types.Message{
			Subject: &types.Content{Data: aws.String(msg.Subject), Charset: utf8},
			Body: &types.Body{
				Text: &types.Content{Data: aws.String(msg.Text), Charset: utf8},
				Html: &types.Content{Data: aws.String(msg.HTML), Charset: utf8},
			},
		},
	})
	if err == nil {
		return nil
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		// The replaced service fell back to SMTP on exactly these: the
		// message (or its recipient) is refused, SES itself works.
		case "MessageRejected", "InvalidParameterValue":
			return fmt.Errorf("%w: ses send email: %w", ErrRejected, err)
		}
	}
	return fmt.Errorf("ses send email: %w", err)
}
