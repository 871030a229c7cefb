// Package strictjson decodes one JSON object into a struct strictly, for
// the directory's request bodies: valid UTF-8, one object and nothing
// after it, every key a field's exact json tag and given once, every value
// of its field's type; each refusal says what to send instead.
package strictjson
