package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
	swaggerfiles "github.com/swaggo/files"
	ginswagger "github.com/swaggo/gin-swagger"
)

// openAPI is the hand-written OpenAPI 3 document of every route; a test
// checks it against the router in both directions.
//
//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns the OpenAPI document.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

func (a *API) docs(r *gin.Engine) {
	r.GET("/api/openapi.yaml", func(c *gin.Context) {
		c.Data(http.StatusOK, "application/yaml", openAPI)
	})
	toUI := func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, "/api/docs/index.html") }
	r.GET("/api", toUI)
	r.GET("/api/docs", toUI)
	r.GET("/api/docs/*any", ginswagger.WrapHandler(swaggerfiles.Handler,
		ginswagger.URL("/api/openapi.yaml"), ginswagger.DocExpansion("list"), ginswagger.PersistAuthorization(true)))
}
