package m365sim

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
)

// photoSizes are the sizes Graph offers under /photos/{size}.
var photoSizes = []string{"48x48", "64x64", "96x96", "120x120", "240x240", "360x360", "432x432", "504x504", "648x648"}

// lookupPhoto finds the user and photo for a photo route, writing the error when there is none.
func (s *Sim) lookupPhoto(w http.ResponseWriter, r *http.Request) (*User, *Photo, bool) {
	id := r.PathValue("id")
	if size := r.PathValue("size"); size != "" && !slices.Contains(photoSizes, size) {
		s.graphError(w, r, http.StatusNotFound, "ImageNotFound", fmt.Sprintf("The photo size '%s' is not available.", size))
		return nil, nil, false
	}
	var u User
	var p *Photo
	ok := false
	s.read(func(t *tenant) {
		if x := t.activeUser(id); x != nil {
			u, p, ok = *x, t.photos[x.ID], true
		}
	})
	if !ok {
		s.graphError(w, r, http.StatusNotFound, "ErrorInvalidUser", fmt.Sprintf("The requested user '%s' is invalid.", id))
		return nil, nil, false
	}
	if p == nil {
		s.graphError(w, r, http.StatusNotFound, "ImageNotFound", "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.")
		return nil, nil, false
	}
	return &u, p, true
}

// photoMeta serves GET /users/{id}/photo (and /photos/{size}).
func (s *Sim) photoMeta(w http.ResponseWriter, r *http.Request) {
	u, p, ok := s.lookupPhoto(w, r)
	if !ok {
		return
	}
	size := fmt.Sprintf("%dx%d", p.Width, p.Height)
	b := []byte(`{"@odata.context":`)
	b = appendJSONString(b, s.GraphURL()+"/$metadata#users('"+u.ID+"')/photo/$entity")
	b = append(b, `,"@odata.id":`...)
	b = appendJSONString(b, s.GraphURL()+"/users('"+u.ID+"')/photo")
	b = append(b, `,"@odata.mediaContentType":`...)
	b = appendJSONString(b, p.ContentType)
	b = append(b, `,"@odata.mediaEtag":`...)
	b = appendJSONString(b, p.ETag)
	b = append(b, `,"id":`...)
	b = appendJSONString(b, size)
	b = append(b, `,"width":`...)
	b = strconv.AppendInt(b, int64(p.Width), 10)
	b = append(b, `,"height":`...)
	b = strconv.AppendInt(b, int64(p.Height), 10)
	b = append(b, '}')
	writeOData(w, http.StatusOK, b)
}

// photoValue serves GET /users/{id}/photo/$value.
func (s *Sim) photoValue(w http.ResponseWriter, r *http.Request) {
	_, p, ok := s.lookupPhoto(w, r)
	if !ok {
		return
	}
	data := p.Data()
	w.Header().Set("Content-Type", p.ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Header().Set("ETag", p.ETag)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data) // the client went away; nothing to do
}
