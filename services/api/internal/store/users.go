package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/servercheck/uptime/pkg/postgres"
)

// Users is the users table.
type Users struct {
	db *gorm.DB
}

// NewUsers returns the users repository.
func NewUsers(db *postgres.DB) *Users { return &Users{db: db.Gorm} }

// Identity is what a verified token says about its bearer.
type Identity struct {
	// Email is set for ID tokens.
	Email string
	// Subject is the IdP's user id (Cognito sub).
	Subject string
}

// Resolve returns the user behind a verified token, provisioning it on
// first sight: a known sub finds its user; otherwise ID tokens (with a
// verified email) find or create the user by email and record the sub;
// access tokens (no email) of an unknown sub are refused, since a user row
// needs an email. A verified email listed in adminEmails is made ADMIN.
func (u *Users) Resolve(ctx context.Context, id Identity, adminEmails []string) (User, error) {
	email := strings.ToLower(strings.TrimSpace(id.Email))
	var user User
	found := false
	if id.Subject != "" {
		// The sub is the IdP's stable id: a user who changed its email
		// keeps its row.
		err := u.db.WithContext(ctx).Where("cognito_sub = ?", id.Subject).Take(&user).Error
		switch {
		case err == nil:
			found = true
		case !errors.Is(err, gorm.ErrRecordNotFound):
			return User{}, fmt.Errorf("find user by sub: %w", Classify(err))
		}
	}
	if !found && email == "" {
		return User{}, fmt.Errorf("find user by sub: %w", ErrNotFound)
	}
	if !found {
		role := RoleUser
		if slices.Contains(adminEmails, email) {
			role = RoleAdmin
		}
		// Insert-or-nothing then read: safe when two first requests race.
		candidate := User{Email: email, Role: role}
		if id.Subject != "" {
			candidate.CognitoSub = &id.Subject
		}
		err := u.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).
			Select("email", "role", "cognito_sub").Create(&candidate).Error
		if err != nil {
			return User{}, fmt.Errorf("provision user %s: %w", email, Classify(err))
		}
		if err := u.db.WithContext(ctx).Where("email = ?", email).Take(&user).Error; err != nil {
			return User{}, fmt.Errorf("find user %s: %w", email, Classify(err))
		}
		if user.CognitoSub == nil && id.Subject != "" {
			// A pre-registered user signs in for the first time.
			res := u.db.WithContext(ctx).Model(&User{}).Where("id = ? AND cognito_sub IS NULL", user.ID).
				Update("cognito_sub", id.Subject)
			if res.Error == nil && res.RowsAffected == 1 {
				user.CognitoSub = &id.Subject
			}
		}
	}
	// Promotion follows the verified email the token carries, never the
	// stored one: a user cannot become ADMIN by renaming itself.
	if user.Role != RoleAdmin && email != "" && slices.Contains(adminEmails, email) {
		if err := u.db.WithContext(ctx).Model(&user).Update("role", RoleAdmin).Error; err != nil {
			return User{}, fmt.Errorf("promote %s to ADMIN: %w", email, Classify(err))
		}
		user.Role = RoleAdmin
	}
	return user, nil
}

// Create pre-registers a user (ADMIN only at the API).
func (u *Users) Create(ctx context.Context, email, role string) (User, error) {
	user := User{Email: strings.ToLower(strings.TrimSpace(email)), Role: role}
	if err := u.db.WithContext(ctx).Select("email", "role").Create(&user).Error; err != nil {
		return User{}, fmt.Errorf("create user %s: %w", user.Email, Classify(err))
	}
	return u.Get(ctx, user.ID)
}

// List returns one page of users, newest first, and the total.
func (u *Users) List(ctx context.Context, page, limit int) ([]User, int64, error) {
	var total int64
	if err := u.db.WithContext(ctx).Model(&User{}).Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count users: %w", Classify(err))
	}
	users := []User{}
	err := u.db.WithContext(ctx).Order("created_at DESC, id").Limit(limit).Offset((page - 1) * limit).Find(&users).Error
	if err != nil {
		return nil, 0, fmt.Errorf("list users: %w", Classify(err))
	}
	return users, total, nil
}

// Get returns one user.
func (u *Users) Get(ctx context.Context, id string) (User, error) {
	var user User
	if err := u.db.WithContext(ctx).Where("id = ?", id).Take(&user).Error; err != nil {
		return User{}, fmt.Errorf("get user %s: %w", id, Classify(err))
	}
	return user, nil
}

// UserUpdate holds the fields a PATCH may change; nil means unchanged.
type UserUpdate struct {
	Email *string
	Role  *string
}

// Update changes a user and returns it.
func (u *Users) Update(ctx context.Context, id string, upd UserUpdate) (User, error) {
	fields := map[string]any{}
	if upd.Email != nil {
		fields["email"] = strings.ToLower(strings.TrimSpace(*upd.Email))
	}
	if upd.Role != nil {
		fields["role"] = *upd.Role
	}
	if len(fields) > 0 {
		res := u.db.WithContext(ctx).Model(&User{}).Where("id = ?", id).Updates(fields)
		if res.Error != nil {
			return User{}, fmt.Errorf("update user %s: %w", id, Classify(res.Error))
		}
		if res.RowsAffected == 0 {
			return User{}, fmt.Errorf("update user %s: %w", id, ErrNotFound)
		}
	}
	return u.Get(ctx, id)
}

// Delete removes a user (and, by cascade, its monitors, ping logs and
// incidents) and returns the deleted row.
func (u *Users) Delete(ctx context.Context, id string) (User, error) {
	var user User
	res := u.db.WithContext(ctx).Clauses(clause.Returning{}).Where("id = ?", id).Delete(&user)
	if res.Error != nil {
		return User{}, fmt.Errorf("delete user %s: %w", id, Classify(res.Error))
	}
	if res.RowsAffected == 0 {
		return User{}, fmt.Errorf("delete user %s: %w", id, ErrNotFound)
	}
	return user, nil
}

// IsNotFound reports whether err means a missing row.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
