package receiver

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
)

// Sign is Tencent's callback signature: the lowercase hex SHA-256 of the token immediately
// followed by the decimal RequestTime (plain SHA-256, not HMAC).
func Sign(token, requestTime string) string {
	sum := sha256.Sum256([]byte(token + requestTime))
	return hex.EncodeToString(sum[:])
}

// VerifySign checks a delivery's Sign and RequestTime query parameters against the tokens:
// the signature must match one of them (each compared in constant time) and RequestTime, Unix
// seconds, must be within maxSkew of now.
func VerifySign(tokens []string, sign, requestTime string, now time.Time, maxSkew time.Duration) error {
	if sign == "" || requestTime == "" {
		return fmt.Errorf("the Sign and RequestTime query parameters are required: callback authentication is on")
	}
	got, err := hex.DecodeString(sign)
	match := 0
	for _, token := range tokens {
		want := sha256.Sum256([]byte(token + requestTime))
		match |= subtle.ConstantTimeCompare(got, want[:])
	}
	if err != nil || match != 1 {
		return fmt.Errorf("the Sign query parameter does not match the callback token")
	}
	sent, err := strconv.ParseInt(requestTime, 10, 64)
	if err != nil {
		return fmt.Errorf("the RequestTime query parameter is not Unix seconds")
	}
	// Compared in whole seconds against bounds around now, so no value of RequestTime overflows.
	limit := int64(maxSkew / time.Second)
	if nowSec := now.Unix(); sent < nowSec-limit || sent > nowSec+limit {
		if d := nowSec - sent; d > -1<<33 && d < 1<<33 { // within about 270 years: say how far
			return fmt.Errorf("RequestTime is %s away from the receiver's clock, more than the %s allowed", time.Duration(max(d, -d))*time.Second, maxSkew)
		}
		return fmt.Errorf("RequestTime is far away from the receiver's clock, more than the %s allowed", maxSkew)
	}
	return nil
}
