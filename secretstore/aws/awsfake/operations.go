package awsfake

import (
	"slices"
	"strconv"
	"time"
)

// The handlers in this file run with Server.mu held. Request and response
// members have the names of the API reference.

// epoch is a timestamp as the JSON protocols send it: seconds since the
// Unix epoch.
func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

type createSecretInput struct {
	Name               string
	SecretString       *string
	SecretBinary       []byte
	ClientRequestToken string
}

func (s *Server) createSecret(body []byte) (any, *apiError) {
	var in createSecretInput
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if in.Name == "" {
		return nil, errValidation("name", in.Name, "Member must have length greater than or equal to 1")
	}
	if in.SecretBinary != nil {
		return nil, errInvalidRequest("the fake stores SecretString only")
	}
	if in.ClientRequestToken == "" {
		in.ClientRequestToken = newVersionID()
	}
	if e := checkToken("clientRequestToken", in.ClientRequestToken); e != nil {
		return nil, e
	}
	if _, ok := s.secrets[in.Name]; ok {
		return nil, &apiError{400, "ResourceExistsException", "The operation failed because the secret " + in.Name + " already exists."}
	}
	sec := newSecret(in.Name, s.now())
	s.secrets[in.Name] = sec
	out := map[string]any{"ARN": sec.arn, "Name": sec.name}
	if in.SecretString != nil {
		id := in.ClientRequestToken
		s.addVersion(sec, id, *in.SecretString, nil)
		out["VersionId"] = id
	}
	return out, nil
}

type getSecretValueInput struct {
	SecretId     string
	VersionId    string
	VersionStage string
}

func (s *Server) getSecretValue(body []byte) (any, *apiError) {
	var in getSecretValueInput
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if in.VersionId != "" {
		if e := checkToken("versionId", in.VersionId); e != nil {
			return nil, e
		}
	}
	sec, e := s.lookup(in.SecretId)
	if e != nil {
		return nil, e
	}
	if e := sec.checkNotDeleted(); e != nil {
		return nil, e
	}
	v, e := sec.versionByIDOrStage(in.VersionId, in.VersionStage)
	if e != nil {
		return nil, e
	}
	return map[string]any{
		"ARN":           sec.arn,
		"Name":          sec.name,
		"VersionId":     v.id,
		"SecretString":  v.value,
		"VersionStages": nonNil(sec.stages(v.id)),
		"CreatedDate":   epoch(v.created),
	}, nil
}

type putSecretValueInput struct {
	SecretId           string
	ClientRequestToken string
	SecretString       *string
	SecretBinary       []byte
	VersionStages      []string
}

func (s *Server) putSecretValue(body []byte) (any, *apiError) {
	var in putSecretValueInput
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if in.ClientRequestToken == "" {
		in.ClientRequestToken = newVersionID()
	}
	if e := checkToken("clientRequestToken", in.ClientRequestToken); e != nil {
		return nil, e
	}
	for _, label := range in.VersionStages {
		if e := checkLabel("versionStages", label); e != nil {
			return nil, e
		}
	}
	if in.SecretBinary != nil {
		return nil, errInvalidRequest("the fake stores SecretString only")
	}
	if in.SecretString == nil {
		return nil, errInvalidRequest("You must provide either SecretString or SecretBinary.")
	}
	sec, e := s.lookup(in.SecretId)
	if e != nil {
		return nil, e
	}
	if e := sec.checkNotDeleted(); e != nil {
		return nil, e
	}

	id := in.ClientRequestToken
	if existing, ok := sec.versions[id]; ok {
		if existing.value != *in.SecretString {
			return nil, &apiError{400, "ResourceExistsException",
				"You can't modify an existing version, you can only create a new version."}
		}
		// The same token and value: the request is ignored.
		return map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": id, "VersionStages": nonNil(sec.stages(id))}, nil
	}
	s.addVersion(sec, id, *in.SecretString, in.VersionStages)
	return map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": id, "VersionStages": nonNil(sec.stages(id))}, nil
}

type updateSecretVersionStageInput struct {
	SecretId            string
	VersionStage        string
	MoveToVersionId     string
	RemoveFromVersionId string
}

func (s *Server) updateSecretVersionStage(body []byte) (any, *apiError) {
	var in updateSecretVersionStageInput
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if e := checkLabel("versionStage", in.VersionStage); e != nil {
		return nil, e
	}
	for field, id := range map[string]string{"moveToVersionId": in.MoveToVersionId, "removeFromVersionId": in.RemoveFromVersionId} {
		if id == "" {
			continue
		}
		if e := checkToken(field, id); e != nil {
			return nil, e
		}
	}
	sec, e := s.lookup(in.SecretId)
	if e != nil {
		return nil, e
	}
	if e := sec.checkNotDeleted(); e != nil {
		return nil, e
	}
	out := map[string]any{"ARN": sec.arn, "Name": sec.name}
	holder, attached := sec.labels[in.VersionStage]

	if in.MoveToVersionId == "" {
		if in.RemoveFromVersionId == "" {
			return nil, errInvalidParameter("You must specify MoveToVersionId, RemoveFromVersionId, or both.")
		}
		if in.VersionStage == LabelCurrent {
			return nil, errInvalidParameter("You can't remove the staging label AWSCURRENT from a version; move it to another version instead.")
		}
		if !attached || holder != in.RemoveFromVersionId {
			return nil, errInvalidParameter("The staging label %s is not attached to the version %s.", in.VersionStage, in.RemoveFromVersionId)
		}
		delete(sec.labels, in.VersionStage)
		sec.changed = s.now()
		return out, nil
	}

	if _, ok := sec.versions[in.MoveToVersionId]; !ok {
		return nil, errNotFound("Secrets Manager can't find the specified secret version: %s", in.MoveToVersionId)
	}
	switch {
	case attached && holder == in.MoveToVersionId:
		return out, nil
	case attached && in.RemoveFromVersionId == "":
		return nil, errInvalidParameter("The parameter RemoveFromVersionId can't be empty. Staging label %s is currently attached to version %s, so you must explicitly reference that version in RemoveFromVersionId.", in.VersionStage, holder)
	case attached && in.RemoveFromVersionId != holder:
		return nil, errInvalidParameter("The staging label %s is currently attached to version %s, not to the version in RemoveFromVersionId.", in.VersionStage, holder)
	case !attached && in.RemoveFromVersionId != "":
		return nil, errInvalidParameter("The staging label %s is not attached to the version %s.", in.VersionStage, in.RemoveFromVersionId)
	}
	sec.attach(in.VersionStage, in.MoveToVersionId)
	sec.changed = s.now()
	return out, nil
}

type describeSecretInput struct {
	SecretId string
}

func (s *Server) describeSecret(body []byte) (any, *apiError) {
	var in describeSecretInput
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	sec, e := s.lookup(in.SecretId)
	if e != nil {
		return nil, e
	}
	stages := map[string][]string{}
	for label, id := range sec.labels {
		stages[id] = append(stages[id], label)
	}
	for id := range stages {
		slices.Sort(stages[id])
	}
	out := map[string]any{
		"ARN":                sec.arn,
		"Name":               sec.name,
		"CreatedDate":        epoch(sec.created),
		"LastChangedDate":    epoch(sec.changed),
		"VersionIdsToStages": stages,
	}
	if sec.rotationEnabled {
		out["RotationEnabled"] = true
		out["RotationLambdaARN"] = sec.rotationLambda
	}
	if !sec.deleted.IsZero() {
		out["DeletedDate"] = epoch(sec.deleted)
	}
	return out, nil
}

type listSecretVersionIdsInput struct {
	SecretId          string
	IncludeDeprecated bool
	MaxResults        int
	NextToken         string
}

type versionEntry struct {
	VersionId     string
	VersionStages []string `json:",omitempty"`
	CreatedDate   float64
}

func (s *Server) listSecretVersionIds(body []byte) (any, *apiError) {
	var in listSecretVersionIdsInput
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if in.MaxResults < 0 || in.MaxResults > 100 {
		return nil, errValidation("maxResults", strconv.Itoa(in.MaxResults), "Member must have value between 1 and 100")
	}
	sec, e := s.lookup(in.SecretId)
	if e != nil {
		return nil, e
	}
	var entries []versionEntry
	for _, id := range sec.order {
		stages := sec.stages(id)
		if len(stages) == 0 && !in.IncludeDeprecated {
			continue
		}
		entries = append(entries, versionEntry{VersionId: id, VersionStages: stages, CreatedDate: epoch(sec.versions[id].created)})
	}

	start := 0
	if in.NextToken != "" {
		n, err := strconv.Atoi(in.NextToken)
		if err != nil || n < 0 || n > len(entries) {
			return nil, &apiError{400, "InvalidNextTokenException", "The NextToken value is invalid."}
		}
		start = n
	}
	size := in.MaxResults
	if size == 0 {
		size = 100
	}
	end := min(start+size, len(entries))
	out := map[string]any{"ARN": sec.arn, "Name": sec.name, "Versions": nonNil(entries[start:end])}
	if end < len(entries) {
		out["NextToken"] = strconv.Itoa(end)
	}
	return out, nil
}

// nonNil turns a nil slice into an empty one, so it encodes as [] rather
// than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
