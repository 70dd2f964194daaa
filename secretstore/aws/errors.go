package aws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/rotorhq/rotor/secretstore"
)

// errorKinds maps Secrets Manager's error codes (smithy.APIError.ErrorCode)
// onto rotor's error kinds, with what to tell an operator. The codes are
// those of the Secrets Manager API reference, its Common Errors page and
// AWS's authentication errors. A code missing here is ErrUnavailable,
// because the outcome of the request is unknown.
var errorKinds = map[string]struct {
	kind error
	text string
}{
	"ResourceNotFoundException": {secretstore.ErrNotFound, "Secrets Manager has no such secret, version or label"},

	"AccessDeniedException":               {secretstore.ErrAccess, "rotor's AWS identity is not allowed to do this; grant it secretsmanager:%s on the secret"},
	"UnrecognizedClientException":         {secretstore.ErrAccess, "Secrets Manager does not recognise rotor's access key; check rotor's AWS credentials"},
	"InvalidClientTokenId":                {secretstore.ErrAccess, "Secrets Manager does not recognise rotor's access key; check rotor's AWS credentials"},
	"InvalidSignatureException":           {secretstore.ErrAccess, "Secrets Manager rejected the request signature; check rotor's secret access key and the system clock"},
	"SignatureDoesNotMatch":               {secretstore.ErrAccess, "Secrets Manager rejected the request signature; check rotor's secret access key and the system clock"},
	"IncompleteSignature":                 {secretstore.ErrAccess, "Secrets Manager rejected the request signature; check rotor's AWS credentials"},
	"MissingAuthenticationTokenException": {secretstore.ErrAccess, "the request carried no AWS credentials; configure credentials for rotor"},
	"ExpiredTokenException":               {secretstore.ErrAccess, "rotor's AWS session token has expired; renew its credentials"},
	"ExpiredToken":                        {secretstore.ErrAccess, "rotor's AWS session token has expired; renew its credentials"},
	"DecryptionFailure":                   {secretstore.ErrAccess, "Secrets Manager cannot decrypt the secret with its KMS key; check that the key is enabled and that rotor may use kms:Decrypt on it"},
	"EncryptionFailure":                   {secretstore.ErrAccess, "Secrets Manager cannot encrypt the secret with its KMS key; check that the key is enabled and that rotor may use kms:GenerateDataKey on it"},

	"ThrottlingException":  {secretstore.ErrUnavailable, "Secrets Manager throttled the request; wait a minute and repeat the step, or raise the account's request quota"},
	"InternalServiceError": {secretstore.ErrUnavailable, "Secrets Manager failed on its side; the outcome is unknown, so repeat the step"},
	"InternalFailure":      {secretstore.ErrUnavailable, "Secrets Manager failed on its side; the outcome is unknown, so repeat the step"},
	"ServiceUnavailable":   {secretstore.ErrUnavailable, "Secrets Manager is unavailable; the outcome is unknown, so repeat the step later"},

	"ResourceExistsException":     {secretstore.ErrConflict, "a version with this rotation's id already exists with another value"},
	"InvalidParameterException":   {secretstore.ErrInvalid, "Secrets Manager rejected a parameter of the request"},
	"ValidationException":         {secretstore.ErrInvalid, "Secrets Manager rejected a parameter of the request"},
	"InvalidRequestException":     {secretstore.ErrInvalid, "Secrets Manager rejected the request in the secret's current state, for example because the secret is scheduled for deletion or managed by another service"},
	"LimitExceededException":      {secretstore.ErrInvalid, "the request would exceed a Secrets Manager quota, such as the number of versions of the secret"},
	"PreconditionNotMetException": {secretstore.ErrInvalid, "Secrets Manager requires a step that was not done first"},
}

// safeCode matches an error code that can be shown as it is. A code from an
// unexpected server is shown only when it has this form.
var safeCode = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9.]{0,63}$`)

// awsError converts an error from the SDK client into a secretstore error
// for op. call is the API operation and what names the request (the secret
// and the version). The message never contains the service's own message
// nor the SDK's error text: both can quote the request, secret or access
// key included. Only the error code, the operation and a host appear.
func (s *Store) awsError(op, call, what string, err error) error {
	attempts := ""
	var maxErr *retry.MaxAttemptsError
	if errors.As(err, &maxErr) {
		attempts = fmt.Sprintf(" after %d attempts", maxErr.Attempt)
	}

	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code := apiErr.ErrorCode()
		entry, ok := errorKinds[code]
		if !ok {
			shown := "an unrecognised code"
			if safeCode.MatchString(code) {
				shown = code
			}
			return secretstore.Errorf(secretstore.ErrUnavailable, op, "%s: Secrets Manager returned error code %s for %s%s; the outcome is unknown, so repeat the step",
				what, shown, call, attempts)
		}
		text := entry.text
		if code == "AccessDeniedException" {
			text = fmt.Sprintf(text, call)
		}
		return secretstore.Errorf(entry.kind, op, "%s: %s (%s from %s%s)", what, text, code, call, attempts)
	}

	var quotaErr ratelimit.QuotaExceededError
	var deserErr *smithy.DeserializationError
	var urlErr *url.Error
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return secretstore.Errorf(secretstore.ErrUnavailable, op, "%s: the %s request timed out%s; the outcome is unknown, so repeat the step", what, call, attempts)
	case errors.Is(err, context.Canceled):
		return secretstore.Errorf(secretstore.ErrUnavailable, op, "%s: the %s request was cancelled; the outcome is unknown, so repeat the step", what, call)
	case errors.As(err, &quotaErr):
		return secretstore.Errorf(secretstore.ErrUnavailable, op, "%s: the AWS SDK has used up its retry quota after many failures; wait and repeat the step", what)
	case errors.As(err, &deserErr):
		return secretstore.Errorf(secretstore.ErrUnavailable, op, "%s: the response to %s could not be decoded, as when a proxy responds instead of Secrets Manager; the outcome is unknown", what, call)
	case strings.Contains(err.Error(), "invalid header field value"):
		// net/http refuses to send a header with a control character. The
		// text is matched, never shown: it can contain the header's name.
		return secretstore.Errorf(secretstore.ErrAccess, op, "%s: the %s request could not be sent because a header value is invalid, as when an AWS credential contains a newline; check rotor's AWS credentials",
			what, call)
	case strings.Contains(err.Error(), "failed to refresh cached credentials") || strings.Contains(err.Error(), "failed to retrieve credentials"):
		// The SDK found no credentials before sending anything. The text
		// is matched, never shown: it names the providers it tried.
		return secretstore.Errorf(secretstore.ErrAccess, op, "%s: rotor found no AWS credentials to sign the %s request; set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run rotor with an instance or task role",
			what, call)
	case errors.As(err, &urlErr):
		return secretstore.Errorf(secretstore.ErrUnavailable, op, "%s: the %s request to %s failed (%s)%s; check the endpoint and the network, then repeat the step",
			what, call, hostOf(urlErr.URL), networkProblem(urlErr.Err), attempts)
	}
	return secretstore.Errorf(secretstore.ErrUnavailable, op, "%s: the %s request failed before Secrets Manager responded (%T)%s; check rotor's AWS configuration",
		what, call, innermost(err), attempts)
}

// networkProblem names a transport failure in an operator's words.
func networkProblem(err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &dnsErr):
		return "host name not found"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	}
	return "network error"
}

// hostOf returns the host of a request URL, without user information.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "the Secrets Manager endpoint"
	}
	return u.Host
}

// innermost returns the last error of err's chain, whose type best shows
// the cause.
func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// codeOf returns the API error code of err, or "".
func codeOf(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}
